package target_test

import (
	"sync"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/presence/target/targettest"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestContactCenterConformance: the zoom_contact_center driver passes the
// suite against the fake Zoom's Contact Center.
func TestContactCenterConformance(t *testing.T) {
	targettest.Run(t, targettest.Case{Type: target.TypeZoomContactCenter, Build: newContactCenterUnderTest})
}

// ccFar is the fake Zoom's Contact Center.
type ccFar struct {
	fake *zoomfake.Server
	acct *zoomfake.Account
	mu   sync.Mutex
}

func (c *ccFar) Holds(user string) string {
	u, _ := c.acct.User(user)
	if u.Agent == nil {
		return ""
	}
	return u.Agent.StatusID
}
func (c *ccFar) SetDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if down {
		c.fake.SetFaults(zoomfake.Faults{FailRate: 1, Status: 503})
	} else {
		c.fake.SetFaults(zoomfake.Faults{})
	}
}

func newContactCenterUnderTest(t *testing.T) (target.Driver, targettest.FarEnd, target.Push) {
	fake, client, acct := startFakeCC(t, zoomfake.Unlimited(), 40)
	var agent zoomfake.User
	for _, u := range acct.Users() {
		if u.Agent != nil && u.Status == "active" {
			agent = u
			break
		}
	}
	d, err := target.Build(ccConfig(t), target.Deps{Zoom: map[string]*zoomapi.Client{"A": client}})
	if err != nil {
		t.Fatal(err)
	}
	return d, &ccFar{fake: fake, acct: acct},
		target.Push{Target: "cc", AccountID: "A", ZoomUserID: agent.ID, Status: presence.InMeeting, TargetStatus: "2", Since: time.Now(), Seq: 1}
}

func startFakeCC(t *testing.T, limits zoomfake.Limits, users int) (*zoomfake.Server, *zoomapi.Client, *zoomfake.Account) {
	t.Helper()
	fake, err := zoomfake.Start(zoomfake.Options{Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	acct := fake.AddAccount(zoomfake.AccountSpec{ID: "A", ClientID: "cid", ClientSecret: "csecret", WebhookSecret: "wh", Users: users})
	client, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: "A", ClientID: "cid", ClientSecret: secret.New("csecret")},
		zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()), zoomapi.WithRateLimits(zoomapi.Unlimited()),
		zoomapi.WithRetryPolicy(zoomapi.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
			QPSRetries: 3, QPSWait: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return fake, client, acct
}

func ccConfig(t *testing.T) target.Config {
	t.Helper()
	c, err := target.ParseConfig([]byte(`{"name":"cc","type":"zoom_contact_center","status_map":{"in_meeting":"2","available":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
