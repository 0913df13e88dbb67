package webhook

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// randomEventName is a made-up event name of 1–40 bytes, sometimes
// dressed as one of Zoom's families.
func randomEventName(rng *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz_.0123456789"
	b := make([]byte, 1+rng.IntN(40))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	prefixes := []string{"", "user.", "phone.", "phone.caller_", "contact_center.", "endpoint."}
	return prefixes[rng.IntN(len(prefixes))] + string(b)
}

// TestHandlerOutcomeLabelsAreAFixedSet: 10,000 requests with made-up
// event names, unsigned, wrongly signed and signed, on both routes. The
// event reported with each outcome is always one of the fixed set, and a
// request that failed verification never reports the name it claimed.
func TestHandlerOutcomeLabelsAreAFixedSet(t *testing.T) {
	allowed := append(KnownEvents(), "", EventOther)
	cases := []struct {
		name     string
		path     string
		secret   string
		verified bool
	}{
		{"unsigned, account in path", "/webhooks/zoom/" + testAccount, "", false},
		{"unsigned, account in payload", "/webhooks/zoom", "", false},
		{"unsigned, unknown account in path", "/webhooks/zoom/made-up-account", "", false},
		{"wrong secret", "/webhooks/zoom/" + testAccount, "not-the-secret", false},
		{"signed", "/webhooks/zoom/" + testAccount, testSecret, true},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			var events []string
			b.onOutcome = func(event, _ string) { events = append(events, event) }
			n := 2000
			for i := 0; i < n; i++ {
				name := randomEventName(rng)
				body := fmt.Appendf(nil, `{"event":%q,"event_ts":1,"payload":{"account_id":%q,"object":{"id":"u1"}}}`, name, testAccount)
				if i%7 == 0 { // and no account at all
					body = fmt.Appendf(nil, `{"event":%q,"payload":{}}`, name)
				}
				rec := b.post(tc.path, tc.secret, body)
				if !tc.verified && rec.Code == http.StatusOK {
					t.Fatalf("unverified request answered 200: %s", body)
				}
			}
			if len(events) != n {
				t.Fatalf("%d outcomes for %d requests", len(events), n)
			}
			distinct := map[string]bool{}
			for _, e := range events {
				if !slices.Contains(allowed, e) {
					t.Fatalf("event label %q is outside the fixed set", e)
				}
				if !tc.verified && e != "" {
					t.Fatalf("an unverified request reported event %q", e)
				}
				distinct[e] = true
			}
			t.Logf("%d requests, %d distinct event labels", n, len(distinct))
		})
	}
}

func TestEventLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"user.presence_status_updated", "user.presence_status_updated"},
		{"phone.callee_ended", "phone.callee_ended"},
		{"endpoint.url_validation", "endpoint.url_validation"},
		{"contact_center.user_status_changed", "contact_center.user_status_changed"},
		{"user.made_up", EventOther},
		{"phone.caller_zzz", EventOther},
		{"meeting.started", EventOther},
		{"", ""},
	} {
		if got := EventLabel(tc.in); got != tc.want {
			t.Errorf("EventLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHandlerRefusalLogIsRateLimited: a flood of unsigned requests writes
// a burst of "webhook refused" lines, then one per interval, and the next
// line says how many were held back.
func TestHandlerRefusalLogIsRateLimited(t *testing.T) {
	b := setup(t)
	body := presenceBody(testAccount)
	for i := 0; i < 1000; i++ {
		if rec := b.post("/webhooks/zoom/"+testAccount, "", body); rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := strings.Count(b.logs.String(), "webhook refused"); n != DefaultRefusalLogBurst {
		t.Fatalf("%d refusal lines for 1000 refusals in an instant, want the burst of %d:\n%s", n, DefaultRefusalLogBurst, b.logs)
	}
	b.logs.Reset()
	b.clock.Advance(DefaultRefusalLogInterval)
	b.post("/webhooks/zoom/"+testAccount, "", body)
	held := 1000 - DefaultRefusalLogBurst
	if n := strings.Count(b.logs.String(), "webhook refused"); n != 1 || !strings.Contains(b.logs.String(), fmt.Sprintf("suppressed=%d", held)) {
		t.Fatalf("after one interval: want one line with suppressed=%d, got:\n%s", held, b.logs)
	}
	// A long path is quoted cut short.
	b.logs.Reset()
	b.clock.Advance(DefaultRefusalLogInterval)
	b.post("/webhooks/zoom/"+strings.Repeat("x", 10_000), "", body)
	if b.logs.Len() > 1000 || !strings.Contains(b.logs.String(), "webhook refused") {
		t.Fatalf("refusal line for a 10,000-byte path: %d bytes:\n%.2000s", b.logs.Len(), b.logs)
	}
}

// TestHandlerNotEnqueuedLogIsRateLimited: while the sink fails, signed
// events are answered 503 each, but logged at the refusal rate.
func TestHandlerNotEnqueuedLogIsRateLimited(t *testing.T) {
	b := setup(t)
	b.sink.failWith = fmt.Errorf("redis: down")
	for i := 0; i < 200; i++ {
		if rec := b.post("/webhooks/zoom/"+testAccount, testSecret, presenceBody(testAccount)); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := strings.Count(b.logs.String(), "webhook not enqueued"); n != DefaultRefusalLogBurst {
		t.Fatalf("%d lines for 200 failures at once, want %d", n, DefaultRefusalLogBurst)
	}
}
