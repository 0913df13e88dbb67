package app

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// TestOnlyOneReplicaRunsTheScheduledResync: three replicas' schedulers on
// one Redis see the same tick; exactly one runs the resync.
func TestOnlyOneReplicaRunsTheScheduledResync(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 24, 1, 59, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs atomic.Int32
	release := make(chan struct{})
	var ticks sync.WaitGroup
	ticks.Add(3)
	for _, name := range []string{"a", "b", "c"} {
		lease := coord.NewLease(r.Client(), "resync", coord.LeaseOptions{Owner: name, Clock: clock})
		s := &scheduler{
			schedule: "0 2 * * *",
			clock:    clock,
			logger:   discard(),
			start: func(ctx context.Context) error { // what resyncer.execute does around the resync
				defer ticks.Done()
				_, err := lease.Hold(ctx, func(ctx context.Context, f coord.Fence) error {
					runs.Add(1)
					if err := lease.Check(ctx, f); err != nil {
						t.Errorf("the holder's fence check failed: %v", err)
					}
					<-release // still running while the others tick
					return nil
				})
				return err
			},
		}
		go s.run(ctx)
	}
	if err := clock.BlockUntilContext(ctx, 3); err != nil { // all three wait for 02:00
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	// Two replicas find the lease taken and finish their tick at once.
	if err := clock.BlockUntilContext(ctx, 3); err != nil { // two back to waiting + the holder's renew ticker
		t.Fatal(err)
	}
	close(release)
	ticks.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d replicas ran the scheduled resync, want 1", n)
	}
}
