package target

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// farEnd is the system a target pushes to, as a test sees it.
type farEnd interface {
	Holds(user string) string // the status value the far end holds for user
	SetDown(down bool)
}

// targetUnderTest builds a target, its far end, and a push it can take.
type targetUnderTest struct {
	name  string
	build func(t *testing.T) (Target, farEnd, Push)
}

// Every target type passes this suite: a third type (say, Genesys Cloud's
// presence API) adds one entry here.
var conformanceCases = []targetUnderTest{
	{TypeWebhook, newWebhookUnderTest},
	{TypeZoomContactCenter, newContactCenterUnderTest},
}

func TestConformance(t *testing.T) {
	for _, tc := range conformanceCases {
		t.Run(tc.name, func(t *testing.T) {
			target, far, push := tc.build(t)
			ctx := context.Background()
			t.Run("a push reaches the far end", func(t *testing.T) {
				if err := target.Push(ctx, push); err != nil {
					t.Fatal(err)
				}
				if got := far.Holds(push.ZoomUserID); got != push.TargetStatus {
					t.Fatalf("far end holds %q, want %q", got, push.TargetStatus)
				}
			})
			t.Run("a far end that is down is a retryable failure", func(t *testing.T) {
				far.SetDown(true)
				defer far.SetDown(false)
				err := target.Push(ctx, push)
				if err == nil || !errs.Retryable(err) {
					t.Fatalf("got %v (kind %v), want a retryable error", err, errs.KindOf(err))
				}
			})
			t.Run("a cancelled push gives up at once", func(t *testing.T) {
				far.SetDown(true)
				defer far.SetDown(false)
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				start := time.Now()
				if err := target.Push(cctx, push); err == nil {
					t.Fatal("a cancelled push succeeded")
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("a cancelled push took %v", d)
				}
			})
			t.Run("the push is idempotent", func(t *testing.T) {
				for i := 0; i < 2; i++ {
					if err := target.Push(ctx, push); err != nil {
						t.Fatal(err)
					}
				}
				if got := far.Holds(push.ZoomUserID); got != push.TargetStatus {
					t.Fatalf("far end holds %q after a repeated push", got)
				}
			})
		})
	}
}

// webhookFar is a receiver that keeps each user's last target status.
type webhookFar struct{ *receiver }

func (w webhookFar) Holds(user string) string {
	var last string
	for _, b := range w.bodies() {
		if b.ZoomUserID == user {
			last = b.TargetStatus
		}
	}
	return last
}
func (w webhookFar) SetDown(down bool) {
	if down {
		w.down.Store(503)
	} else {
		w.down.Store(0)
	}
}

func newWebhookUnderTest(t *testing.T) (Target, farEnd, Push) {
	rcv := newReceiver(t)
	c := webhookConfig("pbx", rcv.srv.URL)
	return NewWebhook(c, &http.Client{Timeout: 2 * time.Second}, time.Now), webhookFar{rcv},
		Push{Target: "pbx", AccountID: "A", ZoomUserID: "u1", Email: "u1@example.com", Status: presence.InMeeting, TargetStatus: "Busy", Since: time.Now(), Seq: 1}
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

func newContactCenterUnderTest(t *testing.T) (Target, farEnd, Push) {
	fake, client, acct := startFakeCC(t, zoomfake.Unlimited(), 40)
	var agent zoomfake.User
	for _, u := range acct.Users() {
		if u.Agent != nil && u.Status == "active" {
			agent = u
			break
		}
	}
	return NewContactCenter(map[string]*zoomapi.Client{"A": client}), &ccFar{fake: fake, acct: acct},
		Push{Target: "cc", AccountID: "A", ZoomUserID: agent.ID, Status: presence.InMeeting, TargetStatus: "2", Since: time.Now(), Seq: 1}
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

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"presence.changed"}`)
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	h.Set(HeaderTimestamp, "1800000000")
	h.Set(HeaderSignature, Sign("k", 1_800_000_000, body))
	cases := []struct {
		name string
		key  string
		body []byte
		now  time.Time
		ok   bool
	}{
		{"genuine", "k", body, now, true},
		{"other key", "x", body, now, false},
		{"body changed", "k", []byte(`{"event":"presence.changed "}`), now, false},
		{"too old", "k", body, now.Add(6 * time.Minute), false},
		{"from the future", "k", body, now.Add(-6 * time.Minute), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(tc.key, h, tc.body, tc.now, 5*time.Minute); (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
