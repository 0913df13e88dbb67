package zsync

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// TestApplyPresenceRead: a REST read of a user's presence is written as
// a pulled fact and confirms the user, except that REST's Available (what
// Zoom answers for a user signed in only on a phone) does not replace a
// webhook's mobile_only: it confirms it.
func TestApplyPresenceRead(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	cases := []struct {
		stored, rest string // stored presence (from a webhook a minute ago); REST's answer
		want         string // presence afterwards
	}{
		{"mobile_only", "Available", "mobile_only"},
		{"mobile_only", "Away", "away"},
		{"mobile_only", "In_A_Zoom_Meeting", "in_meeting"},
		{"dnd", "Available", "available"},
		{"available", "Available", "available"},
		{"", "Available", "available"}, // never heard
	}
	for _, tc := range cases {
		t.Run(tc.stored+"+"+tc.rest, func(t *testing.T) {
			m := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
			defer rdb.Close()
			s := NewStore(rdb, 4, time.Hour).WithPresence(nil, time.Hour)
			fields := []FieldWrite{{Name: FieldUserStatus, Version: PullVersion(now.Add(-time.Hour)), Value: "active"}}
			if tc.stored != "" {
				fields = append(fields, FieldWrite{Name: FieldPresence, Version: WebhookVersion(now.Add(-time.Minute).UnixMilli()), Value: tc.stored})
			}
			if _, err := s.Apply(ctx, Write{Account: "A", UserKey: "u1", Fields: fields}); err != nil {
				t.Fatal(err)
			}
			if err := s.ApplyPresenceRead(ctx, "A", "u1", tc.rest, now); err != nil {
				t.Fatal(err)
			}
			r, err := s.User(ctx, "A", "u1")
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Fields[FieldPresence]; got != tc.want {
				t.Errorf("presence %q, want %q", got, tc.want)
			}
			// Confirmed now either way: not stale for the sweeper.
			stale, err := s.Stale(ctx, "A", s.keys.partition("u1"), now.Add(-time.Second), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(stale) != 0 {
				t.Errorf("still stale after the read: %v", stale)
			}
		})
	}
}
