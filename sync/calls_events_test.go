package zsync

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// phoneBody is Zoom's sample of a phone event (testdata) about one call
// of one user at ts (Unix ms): the user is the caller of phone.caller_*
// events and the callee of phone.callee_* ones.
func phoneBody(t *testing.T, name, account, user, callID string, ts int64) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "zoomapi", "webhook", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["event_ts"] = ts
	payload := m["payload"].(map[string]any)
	payload["account_id"] = account
	obj := payload["object"].(map[string]any)
	obj["call_id"] = callID
	party := "callee"
	if strings.HasPrefix(name, "phone.caller_") {
		party = "caller"
	}
	obj[party].(map[string]any)["user_id"] = user
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func phoneEvent(t *testing.T, name, account, user, callID string, ts int64) *webhook.Event {
	t.Helper()
	ev, err := webhook.Decode(phoneBody(t, name, account, user, callID, ts))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// callStep is one phone event (a sample's name without "phone.") and the
// effective status of each listed user after it.
type callStep struct {
	event, user, call string
	at                int // seconds after t0
	want              map[string]string
}

// callSequences are the call patterns of an ordinary day in a contact
// center: call waiting, queue rings, a second line, transfers, shared
// lines, and Zoom's duplicates, retries and reordering.
var callSequences = []struct {
	name  string
	steps []callStep
}{
	{"a second call rings and is missed during a call", []callStep{
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "on_call"}},
		{"callee_ringing", "u1", "222", 20, map[string]string{"u1": "on_call"}},
		{"callee_missed", "u1", "222", 30, map[string]string{"u1": "on_call"}},
		{"callee_ended", "u1", "111", 40, map[string]string{"u1": "available"}},
	}},
	{"a second call is rejected during a call", []callStep{
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "on_call"}},
		{"callee_ringing", "u1", "222", 20, map[string]string{"u1": "on_call"}},
		{"callee_rejected", "u1", "222", 25, map[string]string{"u1": "on_call"}},
		{"callee_ended", "u1", "111", 40, map[string]string{"u1": "available"}},
	}},
	{"queue rings during a call", []callStep{
		{"caller_connected", "u1", "111", 10, map[string]string{"u1": "on_call"}},
		{"callee_ringing", "u1", "222", 20, map[string]string{"u1": "on_call"}},
		{"callee_missed", "u1", "222", 35, map[string]string{"u1": "on_call"}},
		{"callee_ringing", "u1", "333", 40, map[string]string{"u1": "on_call"}},
		{"callee_missed", "u1", "333", 55, map[string]string{"u1": "on_call"}},
		{"caller_ended", "u1", "111", 60, map[string]string{"u1": "available"}},
	}},
	{"a second line: the first call ends while the second goes on", []callStep{
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "on_call"}},
		{"caller_ringing", "u1", "222", 20, map[string]string{"u1": "on_call"}},
		{"caller_connected", "u1", "222", 25, map[string]string{"u1": "on_call"}},
		{"callee_ended", "u1", "111", 40, map[string]string{"u1": "on_call"}},
		{"caller_ended", "u1", "222", 50, map[string]string{"u1": "available"}},
	}},
	{"a transfer moves the call to a colleague", []callStep{
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "on_call", "u2": "available"}},
		{"callee_ringing", "u2", "111", 20, map[string]string{"u1": "on_call", "u2": "available"}},
		{"callee_answered", "u2", "111", 25, map[string]string{"u1": "on_call", "u2": "on_call"}},
		{"callee_ended", "u1", "111", 26, map[string]string{"u1": "available", "u2": "on_call"}},
		{"callee_ended", "u2", "111", 60, map[string]string{"u1": "available", "u2": "available"}},
	}},
	{"a consultation call before a transfer", []callStep{
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "on_call"}},
		{"caller_connected", "u1", "222", 20, map[string]string{"u1": "on_call"}},
		{"caller_ended", "u1", "222", 30, map[string]string{"u1": "on_call"}},
		{"callee_ended", "u1", "111", 31, map[string]string{"u1": "available"}},
	}},
	{"a shared line rings two people and one answers", []callStep{
		{"callee_ringing", "u1", "111", 10, map[string]string{"u1": "available", "u2": "available"}},
		{"callee_ringing", "u2", "111", 10, map[string]string{"u1": "available", "u2": "available"}},
		{"callee_answered", "u2", "111", 15, map[string]string{"u1": "available", "u2": "on_call"}},
		{"callee_missed", "u1", "111", 15, map[string]string{"u1": "available", "u2": "on_call"}},
		{"callee_ended", "u2", "111", 60, map[string]string{"u1": "available", "u2": "available"}},
	}},
	{"the end arrives before the answer", []callStep{
		{"callee_ended", "u1", "111", 40, map[string]string{"u1": "available"}},
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "available"}},
	}},
	{"duplicates and Zoom's retries", []callStep{
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "on_call"}},
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "on_call"}},
		{"callee_missed", "u1", "222", 20, map[string]string{"u1": "on_call"}},
		{"callee_ended", "u1", "111", 40, map[string]string{"u1": "available"}},
		{"callee_ended", "u1", "111", 40, map[string]string{"u1": "available"}},
		{"callee_answered", "u1", "111", 10, map[string]string{"u1": "available"}}, // retried 5 minutes later
		{"callee_missed", "u1", "222", 20, map[string]string{"u1": "available"}},
	}},
}

// TestPhoneCallsArePerCall applies each sequence event by event (Zoom's
// samples, decoded, through EventWrite and the apply script) and checks
// every user's effective status and history after every step.
func TestPhoneCallsArePerCall(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour).WithPresence([]string{"pbx"}, 24*time.Hour)
		for n, seq := range callSequences {
			t.Run(seq.name, func(t *testing.T) {
				users := map[string]string{} // sequence user → user key
				wantHistory := map[string][]string{}
				for _, st := range seq.steps {
					for u := range st.want {
						if users[u] != "" {
							continue
						}
						users[u] = fmt.Sprintf("s%d-%s", n, u)
						// Active and available in Zoom before the calls.
						v := PullVersion(t0.Add(-time.Hour))
						if _, err := s.Apply(ctx, Write{"A", users[u], []FieldWrite{fw(FieldUserStatus, v, "active"), fw(FieldPresence, v, "available")}}); err != nil {
							t.Fatal(err)
						}
						wantHistory[u] = []string{"available"}
					}
				}
				for i, st := range seq.steps {
					ev := phoneEvent(t, "phone."+st.event, "A", users[st.user], st.call, t0.Add(time.Duration(st.at)*time.Second).UnixMilli())
					if w, ok := EventWrite("A", ev); ok {
						if _, err := s.Apply(ctx, w); err != nil {
							t.Fatal(err)
						}
					}
					for u, want := range st.want {
						r, err := s.User(ctx, "A", users[u])
						if err != nil {
							t.Fatal(err)
						}
						if got := r.Fields[FieldStatus]; got != want {
							t.Fatalf("step %d (%s %s call %s): %s is %q, want %q", i+1, st.user, st.event, st.call, u, got, want)
						}
						if h := wantHistory[u]; h[len(h)-1] != want {
							wantHistory[u] = append(h, want)
						}
						h, err := s.History(ctx, "A", users[u], time.Time{})
						if err != nil {
							t.Fatal(err)
						}
						var got []string
						for _, c := range h {
							got = append(got, c.Status)
						}
						if strings.Join(got, ",") != strings.Join(wantHistory[u], ",") {
							t.Fatalf("step %d (%s %s call %s): %s's history %v, want %v", i+1, st.user, st.event, st.call, u, got, wantHistory[u])
						}
					}
				}
			})
		}
	})
}

// TestCallWaitingThroughTheInbox: Zoom's events of a call that goes on
// while a second one rings and is missed, through the inbox (decoding,
// one batch merged per user, the apply script): on_call until the first
// call ends, whether the events come in one batch or one by one.
func TestCallWaitingThroughTheInbox(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		p := newPipeline(t, rdb, "c1")
		at := func(sec int) int64 { return t0.Add(time.Duration(sec) * time.Second).UnixMilli() }
		deliver := func(t *testing.T, user, name, call string, ts int64) {
			t.Helper()
			ev, err := webhook.Decode(phoneBody(t, name, "A", user, call, ts))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.inbox.Enqueue(ctx, webhook.Delivery{AccountID: "A", Event: ev, ReceivedAt: time.UnixMilli(ts)}); err != nil {
				t.Fatal(err)
			}
		}
		status := func(t *testing.T, user string) (string, []string) {
			t.Helper()
			r, err := p.store.User(ctx, "A", user)
			if err != nil {
				t.Fatal(err)
			}
			h, err := p.store.History(ctx, "A", user, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var hist []string
			for _, c := range h {
				hist = append(hist, c.Previous+">"+c.Status)
			}
			return r.Fields[FieldStatus], hist
		}
		for _, batched := range []bool{true, false} {
			user := fmt.Sprintf("agent-batched-%v", batched)
			t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
				if err := p.inbox.Enqueue(ctx, presenceDelivery(t, "A", user, "Available", at(0))); err != nil {
					t.Fatal(err)
				}
				p.drain(t, "A")
				for _, e := range []struct {
					name, call string
					at         int
				}{
					{"phone.callee_answered", "111", 10},
					{"phone.callee_ringing", "222", 20},
					{"phone.callee_missed", "222", 30},
				} {
					deliver(t, user, e.name, e.call, at(e.at))
					if !batched {
						p.drain(t, "A")
						if st, hist := status(t, user); st != "on_call" {
							t.Fatalf("after %s of call %s: %q (history %v), want on_call", e.name, e.call, st, hist)
						}
					}
				}
				p.drain(t, "A")
				if st, hist := status(t, user); st != "on_call" || strings.Join(hist, " ") != ">available available>on_call" {
					t.Fatalf("call 111 goes on: status %q, history %v", st, hist)
				}
				deliver(t, user, "phone.callee_ended", "111", at(300))
				p.drain(t, "A")
				if st, hist := status(t, user); st != "available" || strings.Join(hist, " ") != ">available available>on_call on_call>available" {
					t.Fatalf("call 111 ended: status %q, history %v", st, hist)
				}
			})
		}
	})
}
