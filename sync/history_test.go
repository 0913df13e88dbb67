package zsync

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestHistoryUpgradedInPlace: a store written by versions that kept the
// history in a stream per user answers with that history and the new
// entries after it, and the apply script goes on from the record as
// those versions left it.
func TestHistoryUpgradedInPlace(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour).WithPresence([]string{"pbx"}, time.Hour)
		at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
		// What the previous version left: the record and its history stream.
		old := s.keys.historyStream("A", "u1")
		for i, e := range [][2]string{{"available", ""}, {"away", "available"}} {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: old, ID: "*", Values: []any{"status", e[0], "previous", e[1],
				"at", ms(at(i)), "seq", i + 1}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		rec := s.keys.user("A", "u1")
		v1 := WebhookVersion(ms(at(1)))
		if err := rdb.HSet(ctx, rec, "key", "u1", "account", "A", "vmax", int64(v1), FieldPresence, "away", "v:"+FieldPresence, int64(v1),
			FieldStatus, "away", FieldStatusSince, ms(at(1)), FieldStatusSeq, 2).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{fw(FieldPresence, WebhookVersion(ms(at(2))), "in_meeting")}}); err != nil {
			t.Fatal(err)
		}
		h, err := s.History(ctx, "A", "u1", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range h {
			got = append(got, c.Previous+">"+c.Status)
		}
		if want := []string{">available", "available>away", "away>in_meeting"}; !slices.Equal(got, want) || h[2].Seq != 3 || !h[2].At.Equal(at(2)) {
			t.Fatalf("history %v (%+v), want %v with seq 3 at %v", got, h, want, at(2))
		}
		if h, _ := s.History(ctx, "A", "u1", at(1)); len(h) != 2 {
			t.Errorf("history since %v: %+v, want the last two", at(1), h)
		}
	})
}

// TestHistoryTrimmedToItsWindow: entries older than the history window
// leave the list's tail as changes come (every historyTrimEvery of them),
// so a user's history stays about a window long.
func TestHistoryTrimmedToItsWindow(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour).WithPresence(nil, time.Hour)
		statuses := []string{"available", "away"}
		const changes = 4 * historyTrimEvery // 5 minutes apart: 5 h 20 min, the window is 1 h
		for i := range changes {
			v := WebhookVersion(ms(t0.Add(time.Duration(i) * 5 * time.Minute)))
			if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{fw(FieldPresence, v, statuses[i%2])}}); err != nil {
				t.Fatal(err)
			}
		}
		l, err := rdb.LRange(ctx, s.keys.historyList("A", "u1"), 0, -1).Result() // LRANGE: the ACL grants no LLEN
		n := len(l)
		// The last trim (at the last change) kept the entries of the last
		// hour: 13 (60 min / 5, both ends).
		if err != nil || n != 13 {
			t.Fatalf("history list holds %d entries (%v), want the window's 13", n, err)
		}
		h, _ := s.History(ctx, "A", "u1", time.Time{})
		if len(h) != 13 || h[12].Seq != changes || h[0].Seq != changes-12 {
			t.Fatalf("history %+v", h)
		}
		// More old entries than one read of the tail takes: 47 changes a
		// minute apart, then one ten hours later drops all of them.
		for i := range 3*historyTrimEvery - 1 {
			v := WebhookVersion(ms(t0.Add(time.Duration(i) * time.Minute)))
			if _, err := s.Apply(ctx, Write{"A", "u2", []FieldWrite{fw(FieldPresence, v, statuses[i%2])}}); err != nil {
				t.Fatal(err)
			}
		}
		v := WebhookVersion(ms(t0.Add(10 * time.Hour)))
		if _, err := s.Apply(ctx, Write{"A", "u2", []FieldWrite{fw(FieldPresence, v, "dnd")}}); err != nil {
			t.Fatal(err)
		}
		if l, _ := rdb.LRange(ctx, s.keys.historyList("A", "u2"), 0, -1).Result(); len(l) != 1 {
			t.Fatalf("history list holds %d entries, want only the last change", len(l))
		}
	})
}

// TestChangeFeedOneMessagePerBatch: the users of one applied batch of
// whom a fact was written are announced in one message (ParseChanges),
// and a batch that writes nothing (every fact stale) says nothing.
func TestChangeFeedOneMessagePerBatch(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 1, 2*time.Hour).WithPresence([]string{"pbx"}, time.Hour)
		sub := rdb.Subscribe(ctx, PresenceChannel)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
			t.Fatal(err)
		}
		v := WebhookVersion(ms(t0))
		batch := []Write{{"A", "u1", []FieldWrite{fw(FieldPresence, v, "away")}}, {"A", "u2", []FieldWrite{fw(FieldPresence, v, "available")}}}
		if _, err := s.ApplyBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		// The same facts again: nothing changes, nothing is said; then one change.
		if _, err := s.ApplyBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(ctx, Write{"A", "u2", []FieldWrite{fw(FieldPresence, v+2, "dnd")}}); err != nil {
			t.Fatal(err)
		}
		var got [][]UserRef
		for range 2 {
			m, err := sub.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ParseChanges(m.Payload))
		}
		if !slices.Equal(got[0], []UserRef{{"A", "u1"}, {"A", "u2"}}) || !slices.Equal(got[1], []UserRef{{"A", "u2"}}) {
			t.Fatalf("messages %v, want [u1 u2] then [u2]", got)
		}
	})
}
