package zsync

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

type resyncBundle struct {
	fake   *zoomfake.Server
	acct   *zoomfake.Account
	store  *Store
	puller *Puller
	rdb    redis.UniversalClient
}

func setupResync(t *testing.T, rdb redis.UniversalClient, users int) *resyncBundle {
	t.Helper()
	return setupResyncWith(t, rdb, zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited()}), users)
}

func setupResyncWith(t *testing.T, rdb redis.UniversalClient, fake *zoomfake.Server, users int) *resyncBundle {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	a := fake.AddAccount(zoomfake.AccountSpec{ID: "A", ClientID: "c", ClientSecret: "s", Users: users})
	c, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: "A", ClientID: "c", ClientSecret: secret.New("s")},
		zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()), zoomapi.WithRateLimits(zoomapi.Unlimited()),
		zoomapi.WithRetryPolicy(zoomapi.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, QPSRetries: 1, QPSWait: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(rdb, 4, 2*time.Hour)
	return &resyncBundle{fake: fake, acct: a, store: store, puller: NewPuller(rdb, store, c, nil, nil), rdb: rdb}
}

func miniRDB(t *testing.T) redis.UniversalClient {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func (b *resyncBundle) status(t *testing.T, key string) string {
	t.Helper()
	r, err := b.store.User(context.Background(), "A", key)
	if err != nil {
		t.Fatal(err)
	}
	return r.Fields[FieldUserStatus]
}

// TestPullCountsWhatChanged: a pull counts created users and users whose
// values changed; one that only confirms what Redis holds counts nothing
// (its newer versions are written all the same).
func TestPullCountsWhatChanged(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		b := setupResync(t, rdb, 100)
		ctx := context.Background()
		sum, err := b.puller.Pull(ctx)
		if err != nil || sum.Created != 100 || sum.Updated != 0 {
			t.Fatalf("first pull %+v %v", sum, err)
		}
		sum, err = b.puller.Pull(ctx)
		if err != nil || sum.Seen != 100 || sum.Created != 0 || sum.Updated != 0 {
			t.Fatalf("a pull with nothing new %+v %v", sum, err)
		}
		for _, u := range b.acct.Users()[:2] {
			if _, err := b.acct.UpdateUser(u.ID, func(u *zoomfake.User) { u.Dept = "Moved" }); err != nil {
				t.Fatal(err)
			}
		}
		b.acct.CreateUser(zoomfake.User{Email: "new@example.com"})
		sum, err = b.puller.Pull(ctx)
		if err != nil || sum.Created != 1 || sum.Updated != 2 {
			t.Fatalf("after two changes and a hire %+v %v", sum, err)
		}
	})
}

func TestResyncDeletesAConfirmedDeletion(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		b := setupResync(t, rdb, 100)
		ctx := context.Background()
		if _, err := b.puller.Pull(ctx); err != nil {
			t.Fatal(err)
		}
		gone := b.acct.Users()[10]
		if err := b.acct.DeleteUser(gone.ID); err != nil {
			t.Fatal(err)
		}
		rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05})
		if err != nil || rep.Deleted != 1 || rep.Candidates != 1 || rep.Refused != "" || rep.Seen != 99 {
			t.Fatalf("report %+v, err %v", rep, err)
		}
		if got := b.status(t, gone.ID); got != StatusDeleted {
			t.Fatalf("deleted user's status %q", got)
		}
		if !strings.Contains(rep.Summary(), "deleted 1") {
			t.Fatal(rep.Summary())
		}
		// A second run finds nothing more to do.
		rep, err = b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05})
		if err != nil || rep.Deleted != 0 || rep.Candidates != 0 {
			t.Fatalf("second run %+v %v", rep, err)
		}
	})
}

func TestResyncDeletesNothingWhenThePullFailsMidway(t *testing.T) {
	b := setupResync(t, miniRDB(t), 1000)
	ctx := context.Background()
	if _, err := b.puller.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range b.acct.Users()[:3] {
		_ = b.acct.DeleteUser(u.ID)
	}
	pages := 0
	rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05, Progress: func(string, int, int) {
		if pages++; pages == 2 {
			b.fake.SetFaults(zoomfake.Faults{FailNext: 100}) // Zoom starts failing mid-pull
		}
	}})
	if !errs.Is(errs.Transient, err) || rep.Complete || rep.Deleted != 0 || !strings.Contains(rep.Refused, "did not complete") {
		t.Fatalf("report %+v, err %v", rep, err)
	}
	b.fake.SetFaults(zoomfake.Faults{})
	for _, u := range b.acct.Users()[:3] {
		if b.status(t, u.ID) == StatusDeleted {
			t.Fatal("a partial pull deleted a user")
		}
	}
}

func TestResyncDeletesNothingWhenThePullIsEmpty(t *testing.T) {
	b := setupResync(t, miniRDB(t), 50)
	ctx := context.Background()
	if _, err := b.puller.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range b.acct.Users() {
		_ = b.acct.DeleteUser(u.ID)
	}
	rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 1})
	if !errors.Is(err, ErrDeletionsRefused) || rep.Deleted != 0 || rep.Refused != "the pull returned no users" {
		t.Fatalf("report %+v, err %v", rep, err)
	}
}

func TestResyncRefusesMassDeletion(t *testing.T) {
	b := setupResync(t, miniRDB(t), 100)
	ctx := context.Background()
	if _, err := b.puller.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	users := b.acct.Users()
	for _, u := range users[:30] {
		_ = b.acct.DeleteUser(u.ID)
	}
	rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05})
	if !errors.Is(err, ErrDeletionsRefused) || rep.Deleted != 0 || rep.Candidates != 30 || !strings.Contains(rep.Refused, "30 of 100 known users") {
		t.Fatalf("report %+v, err %v", rep, err)
	}
	for _, u := range users[:30] {
		if b.status(t, u.ID) == StatusDeleted {
			t.Fatal("the guard let a deletion through")
		}
	}
	if !strings.Contains(rep.Summary(), "deletions refused") {
		t.Fatal(rep.Summary())
	}
}

func TestResyncSkipsUsersWithNewerNews(t *testing.T) {
	b := setupResync(t, miniRDB(t), 100)
	ctx := context.Background()
	if _, err := b.puller.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	u := b.acct.Users()[5]
	_ = b.acct.DeleteUser(u.ID)
	rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05, Progress: func(string, int, int) {
		// While the pull runs, a webhook about the user arrives.
		_, _ = b.store.Apply(ctx, Write{"A", u.ID, []FieldWrite{{FieldZoomStatus, WebhookVersion(time.Now().Add(time.Second).UnixMilli()), "Away"}}})
	}})
	if err != nil || rep.Deleted != 0 || rep.Skipped != 1 {
		t.Fatalf("report %+v, err %v", rep, err)
	}
}

func TestResyncDryRunWritesNothing(t *testing.T) {
	rdb := miniRDB(t)
	b := setupResync(t, rdb, 100)
	ctx := context.Background()
	if _, err := b.puller.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	gone := b.acct.Users()[1]
	_ = b.acct.DeleteUser(gone.ID)
	b.acct.CreateUser(zoomfake.User{Email: "new.hire@example.com"})
	rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05, DryRun: true})
	if err != nil || rep.Deleted != 1 {
		t.Fatalf("report %+v, err %v", rep, err)
	}
	if b.status(t, gone.ID) == StatusDeleted {
		t.Fatal("dry run deleted")
	}
	if keys, _ := b.store.LookupEmail(ctx, "A", "new.hire@example.com"); len(keys) != 0 {
		t.Fatal("dry run wrote a pulled row")
	}
}

func TestPurgeRemovesOnlyThatAccount(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		p := newPipeline(t, rdb, "c1")
		for _, acct := range []string{"A", "AB"} { // AB shares a prefix with A
			for i := 0; i < 20; i++ {
				if _, err := p.store.Apply(ctx, Write{acct, "u" + string(rune('a'+i)), []FieldWrite{{FieldEmail, 1, "x" + string(rune('a'+i)) + "@e.com"},
					{FieldPresence, 1, "available"}}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.inbox.Enqueue(ctx, presenceDelivery(t, acct, "ua", "Away", 5)); err != nil {
				t.Fatal(err)
			}
			_ = rdb.Set(ctx, pullCompleteKey(acct), "1", 0).Err()
		}
		dry, err := Purge(ctx, rdb, "A", PurgeOptions{DryRun: true})
		if err != nil || dry.Users != 20 || len(allKeys(t, rdb, "zs:{a:A:*")) == 0 {
			t.Fatalf("dry run %+v %v: want the counts and every key left", dry, err)
		}
		rep, err := Purge(ctx, rdb, "A", PurgeOptions{})
		if rep != dry {
			t.Fatalf("purged %+v, the dry run said %+v", rep, dry)
		}
		if err != nil || rep.Users != 20 || rep.Streams != 1 || rep.Other != 1 || rep.Indices == 0 || rep.Presence < 20 {
			t.Fatalf("report %+v %v", rep, err)
		}
		if left := allKeys(t, rdb, "zs:{a:A:*"); len(left) != 0 {
			t.Fatalf("left behind: %v", left)
		}
		if n := len(allKeys(t, rdb, "zs:{a:AB:*")); n < 20 {
			t.Fatalf("the other account lost keys: %d left", n)
		}
	})
}

// TestResyncProgressCarriesZoomsTotal: every page reports the users
// listed so far and the total_records of the listings begun, which ends
// at the account's users over the three statuses.
func TestResyncProgressCarriesZoomsTotal(t *testing.T) {
	b := setupResync(t, miniRDB(t), 700)
	type call struct{ seen, total int }
	var calls []call
	rep, err := b.puller.Resync(context.Background(), ResyncOptions{MaxDeleteFraction: 0.05,
		Progress: func(_ string, seen, total int) { calls = append(calls, call{seen, total}) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 3 {
		t.Fatalf("%d progress calls for %d pages", len(calls), rep.Pages)
	}
	for i, c := range calls {
		if c.total <= 0 || (i > 0 && (c.seen <= calls[i-1].seen || c.total < calls[i-1].total)) {
			t.Fatalf("call %d of %v: want seen growing and a total that never shrinks", i, calls)
		}
	}
	if last := calls[len(calls)-1]; last.seen != rep.Seen || last.total != len(b.acct.Users()) {
		t.Fatalf("last call %+v; seen %d, the account has %d users", last, rep.Seen, len(b.acct.Users()))
	}
}
