package target_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/presence/target/targettest"
)

// TestWebhookConformance: the webhook driver passes the suite against a
// local receiver that checks every signature.
func TestWebhookConformance(t *testing.T) {
	targettest.Run(t, targettest.Case{Type: target.TypeWebhook, Build: newWebhookUnderTest})
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

func newWebhookUnderTest(t *testing.T) (target.Driver, targettest.FarEnd, target.Push) {
	rcv := newReceiver(t)
	d, err := target.Build(webhookConfig("pbx", rcv.srv.URL), target.Deps{HTTP: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return d, webhookFar{rcv},
		target.Push{Target: "pbx", AccountID: "A", ZoomUserID: "u1", Email: "u1@example.com", Status: presence.InMeeting, TargetStatus: "Busy", Since: time.Now(), Seq: 1}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"presence.changed"}`)
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	h.Set(target.HeaderTimestamp, "1800000000")
	h.Set(target.HeaderSignature, target.Sign("k", 1_800_000_000, body))
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
			if err := target.Verify(tc.key, h, tc.body, tc.now, 5*time.Minute); (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestSignIsHMACOfTimestampDotBody: the signature is SPEC §5's, "v1=" and
// the hex HMAC-SHA256 of "{ts}.{body}", for timestamps of any length.
func TestSignIsHMACOfTimestampDotBody(t *testing.T) {
	body := []byte(`{"event":"presence.changed"}`)
	for _, ts := range []int64{0, 7, 1_800_000_000, -5, math.MaxInt64} {
		mac := hmac.New(sha256.New, []byte("k"))
		fmt.Fprintf(mac, "%d.%s", ts, body)
		if got, want := target.Sign("k", ts, body), "v1="+hex.EncodeToString(mac.Sum(nil)); got != want {
			t.Errorf("Sign at %d = %s, want %s", ts, got, want)
		}
	}
}
