package sweep

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/periodic"
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
	s := New(rdb, store, map[string]PresenceReader{acctID: client.Users},
		Options{MaxAge: 15 * time.Minute, ReadsPerSecond: 100, CallMax: 4 * time.Hour, Replica: "r1", Clock: clock})
	if err := s.Pass(ctx, acctID); err != nil {
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
	readers := map[string]PresenceReader{"A": nil, "B": nil} // no reads (ReadsPerSecond 0)
	opts := Options{ReadsPerSecond: 0, CallMax: time.Hour, MaxAge: time.Hour, Every: 5 * time.Millisecond}
	ctx1, stop1 := context.WithCancel(context.Background())
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	var done1, done2 = make(chan struct{}), make(chan struct{})
	o1, o2 := opts, opts
	o1.Replica, o2.Replica = "r1", "r2"
	s1, s2 := New(rdb, store, readers, o1), New(rdb, store, readers, o2)
	run := func(ctx context.Context, s *Sweeper) { // as serve runs the sweeps: on its periodic runner
		r := periodic.New(periodic.Options{})
		r.Add(s.Specs()...)
		r.Run(ctx)
	}
	go func() { defer close(done1); run(ctx1, s1) }()
	go func() { defer close(done2); run(ctx2, s2) }()
	defer func() { stop2(); <-done2 }()
	holders := func() map[string]string {
		out := map[string]string{}
		for _, id := range []string{"A", "B"} {
			l := s1.Lease(id)
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

const acctID = "acct-1"

func startFake(t *testing.T, users int) (*zoomfake.Server, *zoomfake.Account) {
	t.Helper()
	fake, err := zoomfake.Start(zoomfake.Options{Limits: zoomfake.Unlimited()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	return fake, fake.AddAccount(zoomfake.AccountSpec{ID: acctID, ClientID: "cid", ClientSecret: "csecret", WebhookSecret: "whsecret", Users: users})
}

// eventually waits (in real time) for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within 30s", what)
		}
	}
}
