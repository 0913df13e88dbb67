package coord

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
)

// TestMembersDealPartitionsEvenly: with three live replicas every
// partition has exactly one preferred reader and each gets a third (±1);
// when one leaves, the two left share all of them; a replica that cannot
// see the live set prefers everything (no partition is left unread).
func TestMembersDealPartitionsEvenly(t *testing.T) {
	const partitions = 16
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		clock := clockwork.NewFakeClockAt(time.Now())
		var ms []*Members
		for i := range 3 {
			m := NewMembers(rdb, fmt.Sprintf("replica-%d", i), MembersOptions{Clock: clock, TTL: 3 * time.Second})
			ms = append(ms, m)
			if err := m.Beat(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range ms {
			if err := m.Beat(ctx); err != nil { // everyone sees everyone
				t.Fatal(err)
			}
		}
		if n := ms[0].Count(); n != 3 {
			t.Fatalf("Count = %d, want 3", n)
		}
		deal := func(ms []*Members) []int {
			counts := make([]int, len(ms))
			for _, acct := range []string{"A", "B"} {
				for p := range partitions {
					owners := 0
					for i, m := range ms {
						if m.Prefers(acct, p) {
							owners++
							counts[i]++
						}
					}
					if owners != 1 {
						t.Fatalf("%s/%d has %d preferred readers: %v %v %v", acct, p, owners, ms[0].Live(), ms[1].Live(), ms[len(ms)-1].Live())
					}
				}
			}
			return counts
		}
		for i, n := range deal(ms) {
			if n < 10 || n > 11 { // 32 partitions over 3
				t.Fatalf("replica %d prefers %d of 32", i, n)
			}
		}
		// replica-2 stops heartbeating; after the TTL the others drop it.
		clock.Advance(4 * time.Second)
		for range 2 { // views converge within a heartbeat round
			for _, m := range ms[:2] {
				if err := m.Beat(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, n := range deal(ms[:2]) {
			if n != 16 {
				t.Fatalf("after a replica left, replica %d prefers %d of 32", i, n)
			}
		}
		// A stale view (no heartbeat answered for a TTL) prefers all and
		// counts no one.
		clock.Advance(4 * time.Second)
		if !ms[0].Prefers("A", 0) || !ms[0].Prefers("A", 1) {
			t.Fatal("a replica without a fresh view must read every partition")
		}
		if n := ms[0].Count(); n != 0 {
			t.Fatalf("Count from a stale view = %d, want 0 (unknown)", n)
		}
	})
}
