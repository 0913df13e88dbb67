package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/secret"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestSweeperRereadsStalePresenceAndClosesLostCalls: a user whose presence
// nothing confirmed is read through the REST API; a user whose presence
// was confirmed recently is left alone; a call whose end event never came
// is closed after the maximum call length, and only that call: a user on
// another, recent call stays on_call.
func TestSweeperRereadsStalePresenceAndClosesLostCalls(t *testing.T) {
	ctx := context.Background()
	fake, acct := startFake(t, 20)
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	clock := clockwork.NewFakeClockAt(time.Now())
	store := zsync.NewStore(rdb, 4, time.Hour).WithPresence(nil, time.Hour)
	client, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: acctID, ClientID: "cid", ClientSecret: secret.New("csecret")},
		zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()), zoomapi.WithRateLimits(zoomapi.Unlimited()))
	if err != nil {
		t.Fatal(err)
	}
	var active []zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	stale, fresh, caller, twoCalls := active[0], active[1], active[2], active[3]
	for _, u := range []zoomfake.User{stale, fresh, caller, twoCalls} {
		if err := acct.SetPresence(u.ID, "Do_Not_Disturb"); err != nil {
			t.Fatal(err)
		}
	}
	old := zsync.PullVersion(clock.Now().Add(-time.Hour))
	recent := zsync.WebhookVersion(clock.Now().Add(-time.Minute).UnixMilli())
	writes := []zsync.Write{
		{Account: acctID, UserKey: stale.ID, Fields: []zsync.FieldWrite{{Name: zsync.FieldUserStatus, Version: old, Value: "active"}}},
		{Account: acctID, UserKey: fresh.ID, Fields: []zsync.FieldWrite{{Name: zsync.FieldUserStatus, Version: old, Value: "active"},
			{Name: zsync.FieldPresence, Version: recent, Value: "available"}}},
		{Account: acctID, UserKey: caller.ID, Fields: []zsync.FieldWrite{{Name: zsync.FieldUserStatus, Version: old, Value: "active"},
			{Name: zsync.FieldPresence, Version: recent, Value: "available"},
			{Name: zsync.CallField("c1"), Version: zsync.WebhookVersion(clock.Now().Add(-5 * time.Hour).UnixMilli()), Value: zsync.CallOpen}}},
		{Account: acctID, UserKey: twoCalls.ID, Fields: []zsync.FieldWrite{{Name: zsync.FieldUserStatus, Version: old, Value: "active"},
			{Name: zsync.FieldPresence, Version: recent, Value: "available"},
			{Name: zsync.CallField("c2"), Version: zsync.WebhookVersion(clock.Now().Add(-5 * time.Hour).UnixMilli()), Value: zsync.CallOpen},
			{Name: zsync.CallField("c3"), Version: recent, Value: zsync.CallOpen}}},
	}
	if _, err := store.ApplyBatch(ctx, writes); err != nil {
		t.Fatal(err)
	}
	if r, _ := store.User(ctx, acctID, caller.ID); r.Fields[zsync.FieldStatus] != "on_call" {
		t.Fatalf("caller starts %q", r.Fields[zsync.FieldStatus])
	}
	s := newSweeper(store, rdb, map[string]*account{acctID: {client: client}},
		config.Presence{MaxAge: 15 * time.Minute, ReadsPerSecond: 100, CallMax: 4 * time.Hour}, "r1", clock, discard(), newMetrics())
	if err := s.passAccount(ctx, acctID, s.accounts[acctID]); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user       zoomfake.User
		status     string
		confirmed  bool // confirmed_at moved to the sweep
		zoomStatus string
		openCalls  string
	}{
		{stale, "dnd", true, "Do_Not_Disturb", ""},
		{fresh, "available", false, "", ""},
		{caller, "available", false, "", ""},
		{twoCalls, "on_call", false, "", "c3"},
	}
	for _, tc := range cases {
		r, err := store.User(ctx, acctID, tc.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Fields[zsync.FieldStatus] != tc.status || r.Fields[zsync.FieldZoomStatus] != tc.zoomStatus {
			t.Errorf("%s: status %q zoom %q, want %q %q", tc.user.ID, r.Fields[zsync.FieldStatus], r.Fields[zsync.FieldZoomStatus], tc.status, tc.zoomStatus)
		}
		if got := r.Fields[zsync.FieldConfirmedAt] != "" && r.Versions[zsync.FieldPresence].Time().After(clock.Now().Add(-time.Second)); got != tc.confirmed {
			t.Errorf("%s: confirmed by the sweep = %v, want %v", tc.user.ID, got, tc.confirmed)
		}
		var open []string
		for _, c := range r.Calls() {
			if c.Open {
				open = append(open, c.ID)
			}
		}
		if got := strings.Join(open, ","); got != tc.openCalls {
			t.Errorf("%s: open calls %q, want %q", tc.user.ID, got, tc.openCalls)
		}
	}
	// The recent call stays in the open-calls index, as recent as it is.
	var open []zsync.LongCall
	for p := range store.Outbox().Partitions() {
		l, err := store.LongCalls(ctx, acctID, p, clock.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, l...)
	}
	if len(open) != 1 || open[0].User != twoCalls.ID || open[0].CallID != "c3" || !open[0].Began.Equal(zsync.Version(recent).Time()) {
		t.Errorf("open calls after the sweep: %+v", open)
	}
	if reads := fake.Stats().Requests["GET /users/{userId}/presence_status"]; reads != 1 {
		t.Errorf("%d REST presence reads, want 1 (only the stale user)", reads)
	}
}

// TestSweepersShareAccounts: with two replicas and two accounts, each
// account is swept by one replica at a time (its rate budget spent by one
// limiter); when a replica stops, the other takes its accounts at once.
func TestSweepersShareAccounts(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	store := zsync.NewStore(rdb, 4, time.Hour).WithPresence(nil, time.Hour)
	accounts := map[string]*account{"A": {}, "B": {}}
	cfg := config.Presence{ReadsPerSecond: 0, CallMax: time.Hour, MaxAge: time.Hour}
	clock := clockwork.NewRealClock()
	ctx1, stop1 := context.WithCancel(context.Background())
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	var done1, done2 = make(chan struct{}), make(chan struct{})
	s1 := newSweeper(store, rdb, accounts, cfg, "r1", clock, discard(), newMetrics())
	s2 := newSweeper(store, rdb, accounts, cfg, "r2", clock, discard(), newMetrics())
	s1.every, s2.every = 5*time.Millisecond, 5*time.Millisecond
	go func() { defer close(done1); s1.run(ctx1) }()
	go func() { defer close(done2); s2.run(ctx2) }()
	defer func() { stop2(); <-done2 }()
	holders := func() map[string]string {
		out := map[string]string{}
		for id, l := range s1.leases {
			f, err := l.Holder(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			out[id] = f.Owner
		}
		return out
	}
	eventually(t, "both accounts swept", func() bool { h := holders(); return h["A"] != "" && h["B"] != "" })
	stop1()
	<-done1
	eventually(t, "r2 sweeps both after r1 stopped", func() bool { h := holders(); return h["A"] == "r2" && h["B"] == "r2" })
}
