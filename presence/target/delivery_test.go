package target_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/presence/target"
)

// recorder is a driver the delivery tests control: it records every call
// and answers with answer (nil: accepted).
type recorder struct {
	mu      sync.Mutex
	pushes  []target.Push
	batches []int // sizes of PushBatch calls
	answer  func(p target.Push, attempt int) error
	calls   map[string]int
	notify  chan struct{}
}

func (r *recorder) Push(_ context.Context, p target.Push) error {
	r.mu.Lock()
	r.pushes = append(r.pushes, p)
	r.calls[p.ZoomUserID]++
	n := r.calls[p.ZoomUserID]
	answer := r.answer
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if answer != nil {
		return answer(p, n)
	}
	return nil
}

// batching is a recorder that takes batches of up to 20.
type batching struct{ *recorder }

func (b batching) MaxBatch() int { return 20 }

func (b batching) PushBatch(ctx context.Context, ps []target.Push) []error {
	b.mu.Lock()
	b.batches = append(b.batches, len(ps))
	b.mu.Unlock()
	out := make([]error, len(ps))
	for i, p := range ps {
		out[i] = b.Push(ctx, p)
	}
	return out
}

func (r *recorder) snapshot() []target.Push {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]target.Push(nil), r.pushes...)
}

func (r *recorder) waitFor(t *testing.T, what string, cond func([]target.Push) bool) []target.Push {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if p := r.snapshot(); cond(p) {
			return p
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("%s: not within 20s; got %d pushes", what, len(r.snapshot()))
		}
	}
}

// recorders hands each test's recorder to the driver built for its target.
var recorders sync.Map // target name → target.Driver

type noSettings struct{}

func (noSettings) Endpoint() string { return "" }

func init() {
	build := func(c target.Config, _ target.Deps) (target.Driver, error) {
		d, ok := recorders.Load(c.Name)
		if !ok {
			return nil, fmt.Errorf("no recorder for %q", c.Name)
		}
		return d.(target.Driver), nil
	}
	decode := func(json.RawMessage) (target.Settings, error) { return noSettings{}, nil }
	target.Register(target.Type{Name: "test_recorder", Decode: decode, New: build})
	target.Register(target.Type{Name: "test_clearing", Decode: decode, New: build,
		Traits: target.Traits{ClearUnmapped: true, Expiry: 2 * time.Second}})
}

func newRecorder(t *testing.T, name string, batch bool, answer func(target.Push, int) error) *recorder {
	r := &recorder{answer: answer, calls: map[string]int{}, notify: make(chan struct{}, 1)}
	var d target.Driver = r
	if batch {
		d = batching{r}
	}
	recorders.Store(name, d)
	t.Cleanup(func() { recorders.Delete(name) })
	return r
}

func recorderConfig(t *testing.T, name, typ string, extra string) target.Config {
	t.Helper()
	c, err := target.ParseConfig(json.RawMessage(fmt.Sprintf(`{"name":%q,"type":%q,"status_map":{"available":"A","in_meeting":"B","on_call":"C"}%s}`, name, typ, extra)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestErrorKindsDecideDelivery: a failure asking again cannot fix
// (permanent, auth, invalid) is dead-lettered at its first attempt with
// its reason, well before dead_after; a transient one is retried.
func TestErrorKindsDecideDelivery(t *testing.T) {
	for _, tc := range []struct {
		kind errs.Kind
		dead bool
	}{{errs.Permanent, true}, {errs.Auth, true}, {errs.Invalid, true}, {errs.Transient, false}} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			name := "kinds-" + tc.kind.String()
			rec := newRecorder(t, name, false, func(p target.Push, n int) error {
				if n == 1 {
					return errs.Errorf("test", tc.kind, "the far end says no (%d)", n)
				}
				return nil
			})
			r := newRig(t, recorderConfig(t, name, "test_recorder", `,"dead_after":"1h"`))
			r.set(t, "A", "u1", "in_meeting")
			if tc.dead {
				reasons := r.deadLetters(t, name)
				if len(reasons) != 1 || !strings.Contains(reasons[0], "the far end says no") {
					t.Fatalf("dead letters %q", reasons)
				}
				if n := len(rec.snapshot()); n != 1 {
					t.Fatalf("%d attempts for a %v failure, want 1", n, tc.kind)
				}
				return
			}
			rec.waitFor(t, "the retry", func(p []target.Push) bool { return len(p) == 2 })
			r.waitSettled(t, "A", name, "u1", 1)
		})
	}
}

// TestRateLimitedWaitsForRetryAt: a rate-limited push is tried again no
// sooner than the RetryAt its error carries.
func TestRateLimitedWaitsForRetryAt(t *testing.T) {
	const wait = 1500 * time.Millisecond
	var first time.Time
	rec := newRecorder(t, "limited", false, func(p target.Push, n int) error {
		if n == 1 {
			first = time.Now()
			e := errs.Errorf("test", errs.RateLimited, "slow down")
			e.RetryAt = first.Add(wait)
			return e
		}
		return nil
	})
	r := newRig(t, recorderConfig(t, "limited", "test_recorder", ""))
	r.set(t, "A", "u1", "in_meeting")
	rec.waitFor(t, "the retry", func(p []target.Push) bool { return len(p) == 2 })
	if d := time.Since(first); d < wait {
		t.Fatalf("retried after %v, before the RetryAt %v", d, wait)
	}
}

// TestBatchDriverGetsBursts: changes queued in a burst reach a batch
// driver in calls of more than one push and at most its MaxBatch.
func TestBatchDriverGetsBursts(t *testing.T) {
	rec := newRecorder(t, "batched", true, nil)
	c := recorderConfig(t, "batched", "test_recorder", "")
	r := newRigStopped(t, c)
	for u := range 60 {
		r.set(t, "A", fmt.Sprintf("u%02d", u), "in_meeting")
	}
	r.start(t)
	rec.waitFor(t, "every user", func(p []target.Push) bool { return len(p) >= 60 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	biggest := 0
	for _, n := range rec.batches {
		if n > 20 {
			t.Fatalf("a batch of %d, over MaxBatch", n)
		}
		biggest = max(biggest, n)
	}
	if biggest < 2 {
		t.Fatalf("batches %v: a burst was never batched", rec.batches)
	}
}

// TestClearAndExpiryTraits: a type with ClearUnmapped is told to clear
// when a user's status leaves the map after a mapped one; a type with an
// Expiry gets the current status again before it expires.
func TestClearAndExpiryTraits(t *testing.T) {
	rec := newRecorder(t, "clearing", false, nil)
	r := newRig(t, recorderConfig(t, "clearing", "test_clearing", ""))
	r.set(t, "A", "u1", "in_meeting")
	got := rec.waitFor(t, "the push and its re-push before expiry", func(p []target.Push) bool { return len(p) >= 2 })
	if got[0].TargetStatus != "B" || got[1].TargetStatus != "B" || got[1].Seq != got[0].Seq {
		t.Fatalf("pushes %+v", got)
	}
	r.set(t, "A", "u1", "away") // not in the map
	got = rec.waitFor(t, "the clear", func(p []target.Push) bool { return len(p) > 0 && p[len(p)-1].Clear })
	if last := got[len(got)-1]; last.TargetStatus != "" || last.Status != "away" || last.Previous != "in_meeting" {
		t.Fatalf("clear push %+v", last)
	}
}

// TestWebhookRetriesEveryFailure: a webhook receiver's refusal that looks
// permanent (404, a redirect) is retried until dead_after, not
// dead-lettered at once (SPEC §5: anything but 2xx is retried).
func TestWebhookRetriesEveryFailure(t *testing.T) {
	for _, code := range []int{404, 302} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var hits atomic.Int32
			seen := make(chan struct{}, 10)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				w.WriteHeader(code)
				select {
				case seen <- struct{}{}:
				default:
				}
			}))
			defer srv.Close()
			r := newRig(t, webhookConfig("pbx", srv.URL))
			r.set(t, "A", "u1", "in_meeting")
			deadline := time.After(20 * time.Second)
			for hits.Load() < 2 {
				select {
				case <-seen:
				case <-deadline:
					t.Fatalf("%d attempts within 20s, want a retry", hits.Load())
				}
			}
			if keys := r.rdb.Keys(context.Background(), "*:outdead:pbx").Val(); len(keys) != 0 {
				t.Fatalf("dead-lettered at once: %v", keys)
			}
		})
	}
}
