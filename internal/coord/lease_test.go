package coord

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
)

func TestLeaseOneHolderAndFencing(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration)) {
		ctx := context.Background()
		a := NewLease(rdb, "resync", LeaseOptions{Owner: "replica-a", TTL: 200 * time.Millisecond})
		b := NewLease(rdb, "resync", LeaseOptions{Owner: "replica-b", TTL: 200 * time.Millisecond})
		fa, ok, err := a.TryAcquire(ctx)
		if err != nil || !ok {
			t.Fatalf("a: %v %v", ok, err)
		}
		if _, ok, _ := b.TryAcquire(ctx); ok {
			t.Fatal("two holders")
		}
		if err := a.Renew(ctx, fa); err != nil {
			t.Fatal(err)
		}
		if err := b.Release(ctx, Fence{Owner: "replica-b", Token: fa.Token}); err != nil {
			t.Fatal(err)
		}
		if h, _ := a.Holder(ctx); h != fa {
			t.Fatalf("a non-holder released the lease: holder %+v", h)
		}
		// a stalls past its TTL; b takes over with a larger token.
		if expire != nil {
			expire(time.Second)
		} else {
			rdb.Del(ctx, LeaseKey("resync")) // redis-server: what the TTL would do
		}
		fb, ok, err := b.TryAcquire(ctx)
		if err != nil || !ok || fb.Token <= fa.Token {
			t.Fatalf("b: %+v %v %v (a had %d)", fb, ok, err, fa.Token)
		}
		for name, err := range map[string]error{"renew": a.Renew(ctx, fa), "check": a.Check(ctx, fa)} {
			if !errors.Is(err, ErrLeaseLost) || !errs.Is(errs.Stale, err) {
				t.Fatalf("a's %s after losing: %v", name, err)
			}
		}
		if err := b.Check(ctx, fb); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLeaseHoldStopsWorkWhenLost(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		clock := clockwork.NewFakeClock()
		l := NewLease(rdb, "resync", LeaseOptions{Owner: "a", TTL: 30 * time.Second, Clock: clock})
		started := make(chan Fence)
		result := make(chan error, 1)
		go func() {
			_, err := l.Hold(ctx, func(ctx context.Context, f Fence) error {
				started <- f
				<-ctx.Done() // work until told to stop
				return ctx.Err()
			})
			result <- err
		}()
		f := <-started
		// Another replica steals the lease (as after an expiry).
		rdb.Set(ctx, LeaseKey("resync"), "b:999", 0)
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second) // renewal time
		if err := <-result; !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("Hold returned %v, want ErrLeaseLost", err)
		}
		if h, _ := l.Holder(ctx); h.Owner != "b" {
			t.Fatalf("release took another's lease: %+v (ours was %+v)", h, f)
		}
		// A second Hold while b holds it does not run.
		ran, err := l.Hold(ctx, func(context.Context, Fence) error { t.Fatal("ran without the lease"); return nil })
		if ran || err != nil {
			t.Fatalf("ran=%v err=%v", ran, err)
		}
	})
}

func TestLeaseHoldReleasesWhenDone(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		l := NewLease(rdb, "resync", LeaseOptions{Owner: "a"})
		ran, err := l.Hold(ctx, func(ctx context.Context, f Fence) error { return l.Check(ctx, f) })
		if !ran || err != nil {
			t.Fatalf("ran=%v err=%v", ran, err)
		}
		if h, _ := l.Holder(ctx); h.Owner != "" {
			t.Fatalf("still held by %+v", h)
		}
	})
}

// TestAcquireRenewsSignalsLossAndReleases: an acquisition is renewed in
// the background (it outlives its TTL on the fake clock), Lost closes once
// a renewal finds another holder, and Release gives up only our own.
func TestAcquireRenewsSignalsLossAndReleases(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		clock := clockwork.NewFakeClock()
		l := NewLeaseAt(rdb, "zs:{a:A:p:00}:outlease", LeaseOptions{Owner: "a", TTL: 30 * time.Second, Clock: clock})
		other := NewLeaseAt(rdb, "zs:{a:A:p:00}:outlease", LeaseOptions{Owner: "b", TTL: 30 * time.Second, Clock: clock})
		h, err := l.Acquire(ctx)
		if err != nil || h == nil {
			t.Fatalf("acquire: %v %v", h, err)
		}
		if h2, err := other.Acquire(ctx); h2 != nil || err != nil {
			t.Fatalf("a second holder: %v %v", h2, err)
		}
		for range 3 { // renewals: the lease stays ours
			if err := clock.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			clock.Advance(10 * time.Second)
		}
		if got, _ := l.Holder(ctx); got != h.Fence() || h.Err() != nil {
			t.Fatalf("holder %+v, ours %+v, err %v", got, h.Fence(), h.Err())
		}
		rdb.Set(ctx, "zs:{a:A:p:00}:outlease", "b:999", 0)
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
		<-h.Lost()
		if !errors.Is(h.Err(), ErrLeaseLost) {
			t.Fatalf("Err after the loss: %v", h.Err())
		}
		if err := h.Release(); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.Holder(ctx); got.Owner != "b" {
			t.Fatalf("release took another's lease: %+v", got)
		}
	})
}
