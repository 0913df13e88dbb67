package coord

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// TestDealerSpreadsPiecesOverReplicas: two replicas share the pieces
// evenly; when one stops, the other takes them all.
func TestDealerSpreadsPiecesOverReplicas(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	const pieces, ttl = 8, 600 * time.Millisecond
	key := func(i int) string { return fmt.Sprintf("zs:{t:%02d}:lease", i) }
	start := func(owner string) func() {
		ctx, cancel := context.WithCancel(context.Background())
		members := NewMembers(rdb, owner, MembersOptions{TTL: ttl})
		d := &Dealer{Pieces: pieces, Members: members,
			Lease: func(i int) *Lease { return NewLeaseAt(rdb, key(i), LeaseOptions{Owner: owner, TTL: ttl}) }}
		done := make(chan struct{}, 2)
		go func() { members.Run(ctx); done <- struct{}{} }()
		go func() {
			d.Run(ctx, func(ctx context.Context, _ int) {
				select { // one round: nothing to do but wait
				case <-ctx.Done():
				case <-time.After(ttl / 3):
				}
			})
			done <- struct{}{}
		}()
		stopped := false
		stop := func() {
			if !stopped {
				stopped = true
				cancel()
				<-done
				<-done
			}
		}
		t.Cleanup(stop)
		return stop
	}
	held := func() map[string]int {
		out := map[string]int{}
		for i := range pieces {
			if v := rdb.Get(context.Background(), key(i)).Val(); v != "" {
				out[v[:strings.LastIndexByte(v, ':')]]++
			}
		}
		return out
	}
	waitFor := func(what string, cond func(map[string]int) bool) {
		t.Helper()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		deadline := time.After(15 * time.Second)
		for h := held(); !cond(h); h = held() {
			select {
			case <-tk.C:
			case <-deadline:
				t.Fatalf("%s: leases held %v", what, h)
			}
		}
	}
	stop1 := start("r1")
	waitFor("one replica takes every piece", func(h map[string]int) bool { return h["r1"] == pieces })
	stop2 := start("r2")
	waitFor("two replicas share them evenly", func(h map[string]int) bool { return h["r1"] == pieces/2 && h["r2"] == pieces/2 })
	stop1()
	waitFor("the survivor takes them all", func(h map[string]int) bool { return h["r2"] == pieces })
	stop2()
}
