package zsync

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/presence"
)

// TestEffectiveStatusMatchesGo: the apply script's effective status is
// presence.Effective for every combination of its sources.
func TestEffectiveStatusMatchesGo(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour).WithPresence([]string{"t"}, time.Hour)
		n := 0
		for _, us := range []string{"active", "inactive", "deleted", "pending", ""} {
			for _, call := range []string{CallOpen, CallEnded, ""} {
				for _, pr := range append([]presence.Status{""}, presence.Statuses...) {
					n++
					user := fmt.Sprintf("u%d", n)
					v := PullVersion(t0)
					fields := []FieldWrite{{Name: FieldEmail, Version: v, Value: user + "@x.com"}}
					if us != "" {
						fields = append(fields, FieldWrite{Name: FieldUserStatus, Version: v, Value: us})
					}
					if call != "" {
						fields = append(fields, FieldWrite{Name: CallField("1"), Version: v, Value: call})
					}
					if pr != "" {
						fields = append(fields, FieldWrite{Name: FieldPresence, Version: v, Value: string(pr)})
					}
					if _, err := s.Apply(ctx, Write{"A", user, fields}); err != nil {
						t.Fatal(err)
					}
					r, err := s.User(ctx, "A", user)
					if err != nil {
						t.Fatal(err)
					}
					want := presence.Effective(presence.Sources{Presence: pr, OnCall: call == CallOpen, UserStatus: us})
					if got := r.Fields[FieldStatus]; got != string(want) {
						t.Fatalf("status=%q call=%q presence=%q: script says %q, presence.Effective %q", us, call, pr, got, want)
					}
				}
			}
		}
	})
}

// TestStatusChangesAreQueuedCoalescedAndKept: each change of the effective
// status is recorded in the history, the outbox keeps the latest per user,
// and settling an older seq leaves the user due.
func TestStatusChangesAreQueuedCoalescedAndKept(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour).WithPresence([]string{"pbx"}, time.Hour)
		o := s.Outbox()
		at := func(min int) Version { return WebhookVersion(t0.Add(time.Duration(min) * time.Minute).UnixMilli()) }
		for i, st := range []string{"available", "in_meeting", "in_meeting", "away"} { // one repeat: no change
			if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{{Name: FieldPresence, Version: at(i), Value: st}}}); err != nil {
				t.Fatal(err)
			}
		}
		// A stale retry of an old event changes nothing.
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{{Name: FieldPresence, Version: at(1), Value: "dnd"}}}); err != nil {
			t.Fatal(err)
		}
		h, err := s.History(ctx, "A", "u1", time.Time{})
		if err != nil || len(h) != 3 || h[0].Status != "available" || h[1].Status != "in_meeting" || h[2].Status != "away" || h[2].Previous != "in_meeting" || h[2].Seq != 3 {
			t.Fatalf("history %+v %v", h, err)
		}
		p := s.keys.partition("u1")
		due, _ := o.Due(ctx, "A", p, "pbx", time.Now(), 10)
		pend, err := o.Load(ctx, "A", p, "pbx", due)
		if err != nil || len(pend) != 1 || pend[0].Change.Seq != 3 || pend[0].Change.Status != "away" || !pend[0].Change.At.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("due %v, pending %+v, %v", due, pend, err)
		}
		// Settling seq 2 (an older push finishing) keeps the user due.
		if err := o.Settle(ctx, "A", p, "pbx", "u1", 2); err != nil {
			t.Fatal(err)
		}
		if due, _ := o.Due(ctx, "A", p, "pbx", time.Now(), 10); len(due) != 1 {
			t.Fatal("settling an older seq took the user off the schedule")
		}
		next := time.Now().Add(time.Hour)
		if err := o.Retry(ctx, "A", p, "pbx", "u1", next, time.Now(), 1); err != nil {
			t.Fatal(err)
		}
		if due, _ := o.Due(ctx, "A", p, "pbx", time.Now(), 10); len(due) != 0 {
			t.Fatal("a retry an hour from now is due now")
		}
		if err := o.Settle(ctx, "A", p, "pbx", "u1", 3); err != nil {
			t.Fatal(err)
		}
		st, err := o.Stats(ctx, "A", "pbx")
		if err != nil || st.Pending != 0 {
			t.Fatalf("stats %+v %v", st, err)
		}
	})
}

// TestSettleAllInOneCall: a batch's settlements take each user off the
// schedule unless a newer change is queued, and put a user with a
// repeat time back on it then; Load reads the push fields with the change.
func TestSettleAllInOneCall(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 1, 2*time.Hour).WithPresence([]string{"pbx"}, time.Hour)
		o := s.Outbox()
		v := WebhookVersion(ms(t0))
		for _, u := range []string{"u1", "u2", "u3"} {
			if _, err := s.Apply(ctx, Write{"A", u, []FieldWrite{fw(FieldEmail, v, u+"@x.com"), fw(FieldPresence, v, "away")}}); err != nil {
				t.Fatal(err)
			}
		}
		due, _ := o.Due(ctx, "A", 0, "pbx", time.Now(), 10)
		pend, err := o.Load(ctx, "A", 0, "pbx", due)
		if err != nil || len(pend) != 3 || pend[0].Record == nil || pend[0].Record.Fields[FieldEmail] != pend[0].User+"@x.com" {
			t.Fatalf("pending %+v %v", pend, err)
		}
		// u2 changes again before its push settles.
		if _, err := s.Apply(ctx, Write{"A", "u2", []FieldWrite{fw(FieldPresence, v+2, "available")}}); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)
		err = o.SettleAll(ctx, "A", 0, "pbx", []Settlement{{User: "u1", Seq: 1}, {User: "u2", Seq: 1}, {User: "u3", Seq: 1, Repeat: later}})
		if err != nil {
			t.Fatal(err)
		}
		if due, _ := o.Due(ctx, "A", 0, "pbx", time.Now(), 10); !slices.Equal(due, []string{"u2"}) {
			t.Errorf("due now %v, want [u2] (its newer change)", due)
		}
		if due, _ := o.Due(ctx, "A", 0, "pbx", later, 10); !slices.Equal(due, []string{"u2", "u3"}) {
			t.Errorf("due by the repeat %v, want [u2 u3]", due)
		}
	})
}
