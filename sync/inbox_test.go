package zsync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// presenceDelivery builds a verified-looking delivery of a presence event.
func presenceDelivery(t *testing.T, account, user, status string, ts int64) webhook.Delivery {
	t.Helper()
	body := fmt.Sprintf(`{"event":"user.presence_status_updated","event_ts":%d,"payload":{"account_id":%q,"object":{"id":%q,"email":"%s@example.com","presence_status":%q}}}`,
		ts, account, user, user, status)
	ev, err := webhook.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return webhook.Delivery{AccountID: account, Event: ev, ReceivedAt: time.UnixMilli(ts)}
}

type pipeline struct {
	rdb      redis.UniversalClient
	inbox    *Inbox
	store    *Store
	consumer *Consumer
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func newPipeline(t *testing.T, rdb redis.UniversalClient, name string) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{rdb: rdb, inbox: NewInbox(rdb, InboxOptions{Partitions: 4}), store: NewStore(rdb, 4, 2*time.Hour), cancel: cancel}
	// Claim anything idle for 1 ms; block reads briefly so drains end quickly.
	p.consumer = NewConsumer(rdb, p.store, p.inbox, ConsumerOptions{Name: name, ClaimIdle: time.Millisecond, Block: time.Millisecond})
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _ = p.inbox.Run(ctx) }()
	t.Cleanup(func() { cancel(); p.wg.Wait() })
	return p
}

// drain applies everything pending in an account's streams by calling the
// consumer's steps directly (no background loops, no timing).
func (p *pipeline) drain(t *testing.T, account string) {
	t.Helper()
	ctx := context.Background()
	for n := range p.inbox.Partitions() {
		s := p.consumer.stream(account, n)
		if err := p.consumer.ensureGroup(ctx, s); err != nil {
			t.Fatal(err)
		}
		for {
			before, _ := p.rdb.XInfoGroups(ctx, s.key).Result()
			if _, err := p.consumer.readOnce(ctx, s, true); err != nil {
				t.Fatal(err)
			}
			after, _ := p.rdb.XInfoGroups(ctx, s.key).Result()
			if len(after) == 0 || after[0].LastDeliveredID == before[0].LastDeliveredID {
				break
			}
		}
	}
}

func TestInboxGroupCommitsConcurrentAppends(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		p := newPipeline(t, rdb, "c1")
		ctx := context.Background()
		const n = 400
		var wg sync.WaitGroup
		errc := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errc <- p.inbox.Enqueue(ctx, presenceDelivery(t, "A", fmt.Sprintf("u%d", i%37), "In_Meeting", int64(1_800_000_000_000+i)))
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		var total int64
		for _, s := range p.inbox.Streams("A") {
			total += rdb.XLen(ctx, s).Val()
		}
		if total != n {
			t.Fatalf("%d entries in the inbox, want %d", total, n)
		}
		if f := p.inbox.Flushes(); f >= n {
			t.Fatalf("%d pipelines for %d concurrent appends: no group commit", f, n)
		}
		t.Logf("%d appends in %d pipelines", n, p.inbox.Flushes())
	})
}

// TestConsumerConvergesOnNewestTruth delivers presence events for 200
// users shuffled, duplicated and with stale retries, and checks every user
// ends at its newest status.
func TestConsumerConvergesOnNewestTruth(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		p := newPipeline(t, rdb, "c1")
		ctx := context.Background()
		statuses := []string{"Available", "Away", "In_Meeting", "Do_Not_Disturb", "On_Phone_Call"}
		rng := rand.New(rand.NewPCG(1, 2))
		var deliveries []webhook.Delivery
		newest := map[string]string{}
		for u := 0; u < 200; u++ {
			user := fmt.Sprintf("user%03d", u)
			for k := 0; k < 5; k++ {
				st := statuses[rng.IntN(len(statuses))]
				ts := int64(1_800_000_000_000 + k*60_000)
				d := presenceDelivery(t, "A", user, st, ts)
				deliveries = append(deliveries, d, d) // at least once: every event twice
				if k == 4 {
					newest[user] = st
				}
			}
		}
		rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		for i, d := range deliveries {
			if err := p.inbox.Enqueue(ctx, d); err != nil {
				t.Fatal(err)
			}
			if i%300 == 0 {
				p.drain(t, "A") // apply in several rounds, as a live consumer would
			}
		}
		p.drain(t, "A")
		for user, want := range newest {
			r, err := p.store.User(ctx, "A", user)
			if err != nil {
				t.Fatal(err)
			}
			if r.Fields[FieldZoomStatus] != want {
				t.Fatalf("%s ended %q, want %q", user, r.Fields[FieldZoomStatus], want)
			}
		}
		for _, s := range p.inbox.Streams("A") {
			if pending := rdb.XPending(ctx, s, ConsumerGroup).Val(); pending.Count != 0 {
				t.Fatalf("%s: %d entries left unacknowledged", s, pending.Count)
			}
		}
	})
}

func TestDeadConsumersEntriesAreClaimed(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		p := newPipeline(t, rdb, "survivor")
		if err := p.inbox.Enqueue(ctx, presenceDelivery(t, "A", "u1", "In_Meeting", 1_800_000_000_000)); err != nil {
			t.Fatal(err)
		}
		s := p.consumer.stream("A", p.store.keys.partition("u1"))
		_ = p.consumer.ensureGroup(ctx, s)
		// A replica reads the entry and dies before acknowledging it.
		got, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: ConsumerGroup, Consumer: "crashed", Streams: []string{s.key, ">"}, Count: 10}).Result()
		if err != nil || len(got[0].Messages) != 1 {
			t.Fatalf("crashed read: %v %v", got, err)
		}
		// XAUTOCLAIM's idle time is measured by Redis's clock in whole
		// milliseconds, so the entry becomes claimable within about 1 ms.
		eventually(t, func() bool {
			if err := p.consumer.claim(ctx, s); err != nil {
				t.Fatal(err)
			}
			r, err := p.store.User(ctx, "A", "u1")
			return err == nil && r.Fields[FieldZoomStatus] == "In_Meeting"
		})
		if n := rdb.XPending(ctx, s.key, ConsumerGroup).Val().Count; n != 0 {
			t.Fatalf("%d pending after the claim", n)
		}
	})
}

// eventually polls cond every millisecond for up to 5 s: for conditions
// that depend on another process's clock, never on our own code's timing.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met within 5s")
		}
	}
}

func TestPoisonEntriesAreDeadLettered(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		p := newPipeline(t, rdb, "c1")
		s := p.consumer.stream("A", 0)
		stream := s.key
		_ = p.consumer.ensureGroup(ctx, s)
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"account": "A", "body": "{not json"}})
		if _, err := p.consumer.readOnce(ctx, s, true); err != nil {
			t.Fatal(err)
		}
		dead := p.inbox.keys.deadLetters("A", 0)
		msgs := rdb.XRange(ctx, dead, "-", "+").Val()
		if len(msgs) != 1 || msgs[0].Values["body"] != "{not json" || msgs[0].Values["reason"] == "" {
			t.Fatalf("dead letters: %v", msgs)
		}
		if n := rdb.XPending(ctx, stream, ConsumerGroup).Val().Count; n != 0 {
			t.Fatalf("poison entry still pending")
		}
	})
}

func TestEnqueueWithRedisDownFails(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer rdb.Close()
	p := newPipeline(t, rdb, "c1")
	m.Close()
	err := p.inbox.Enqueue(context.Background(), presenceDelivery(t, "A", "u1", "Away", 1))
	if !errs.Is(errs.Unavailable, err) {
		t.Fatalf("got %v, want unavailable (the handler answers 503)", err)
	}
}

func TestTrimKeepsUnfinishedEntries(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		p := newPipeline(t, rdb, "c1")
		s := p.consumer.stream("A", 0)
		stream := s.key
		_ = p.consumer.ensureGroup(ctx, s)
		old := time.Now().Add(-48 * time.Hour).UnixMilli()
		// Two old entries: one acknowledged, one read by a crashed replica
		// and still pending; then a new one not yet delivered.
		for i, id := range []string{fmt.Sprintf("%d-0", old), fmt.Sprintf("%d-1", old+1000)} {
			rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: id, Values: map[string]any{"n": i}})
		}
		got := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: ConsumerGroup, Consumer: "x", Streams: []string{stream, ">"}, Count: 2}).Val()
		rdb.XAck(ctx, stream, ConsumerGroup, got[0].Messages[0].ID)
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"n": 2}})
		if err := p.consumer.trim(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, m := range rdb.XRange(ctx, stream, "-", "+").Val() {
			ids = append(ids, m.ID)
		}
		if len(ids) != 2 || ids[0] != got[0].Messages[1].ID {
			t.Fatalf("after trim: %v (the acknowledged old entry must go, the pending one and the new one stay)", ids)
		}
	})
}

// TestHandBackMakesEntriesClaimableAtOnce: entries a stopping replica read
// but did not acknowledge are taken by another replica's next claim round,
// without waiting for the claim idle time.
func TestHandBackMakesEntriesClaimableAtOnce(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		leaving := newPipeline(t, rdb, "leaving")
		if err := leaving.inbox.Enqueue(ctx, presenceDelivery(t, "A", "u1", "In_Meeting", 1_800_000_000_000)); err != nil {
			t.Fatal(err)
		}
		p := leaving.store.keys.partition("u1")
		s := leaving.consumer.stream("A", p)
		_ = leaving.consumer.ensureGroup(ctx, s)
		if got, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: ConsumerGroup, Consumer: "leaving", Streams: []string{s.key, ">"}, Count: 10}).Result(); err != nil || len(got[0].Messages) != 1 {
			t.Fatalf("read: %v %v", got, err)
		}
		if n, err := leaving.consumer.HandBack(ctx, "A", p); err != nil || n != 1 {
			t.Fatalf("hand back: %d %v", n, err)
		}
		// The other replica claims with the production idle time (30 s).
		staying := NewConsumer(rdb, leaving.store, leaving.inbox, ConsumerOptions{Name: "staying"})
		if err := staying.claim(ctx, staying.stream("A", p)); err != nil {
			t.Fatal(err)
		}
		r, err := leaving.store.User(ctx, "A", "u1")
		if err != nil || r.Fields[FieldZoomStatus] != "In_Meeting" {
			t.Fatalf("not applied by the other replica: %v %v", r, err)
		}
	})
}

// TestMinReplicasOnCluster: with replicas required, an append is
// acknowledged on a cluster whose masters have a replica each, and
// refused (unavailable: Zoom retries) on one whose masters have none.
func TestMinReplicasOnCluster(t *testing.T) {
	for _, tc := range []struct {
		replicas int
		ok       bool
	}{{1, true}, {0, false}} {
		t.Run(fmt.Sprintf("%d replicas per master", tc.replicas), func(t *testing.T) {
			rdb := testCluster(t, tc.replicas)
			in := NewInbox(rdb, InboxOptions{MinReplicas: 1, ReplicaTimeout: 2 * time.Second})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = in.Run(ctx) }()
			defer func() { cancel(); <-done }()
			var errc = make(chan error, 20)
			for u := 0; u < 20; u++ { // users in several partitions, so several masters
				go func() {
					errc <- in.Enqueue(ctx, presenceDelivery(t, "A", fmt.Sprintf("u%d", u), "Away", 1_800_000_000_000))
				}()
			}
			for u := 0; u < 20; u++ {
				err := <-errc
				if tc.ok && err != nil {
					t.Fatalf("append with a replica per master: %v", err)
				}
				if !tc.ok && !errs.Is(errs.Unavailable, err) {
					t.Fatalf("append without replicas: %v, want unavailable", err)
				}
			}
		})
	}
}

// TestStatsLagCountsUndeliveredEntries: the lag is the entries the group
// has not been handed, on every backend. The embedded Redis reports its
// stream's length as the lag whatever was read, so a caught-up inbox
// showed every entry of the last hour as lag there.
func TestStatsLagCountsUndeliveredEntries(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		p := newPipeline(t, rdb, "c1")
		ctx := context.Background()
		var batches []AppliedBatch
		p.consumer.opts.Applied = func(b AppliedBatch) { batches = append(batches, b) }
		lag := func() (total int64) {
			t.Helper()
			stats, err := p.inbox.Stats(ctx, "A")
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range stats {
				if s.Partition != i {
					t.Fatalf("stats %d names partition %d", i, s.Partition)
				}
				total += s.Lag
			}
			return total
		}
		enqueue := func(n, from int) {
			for i := range n {
				if err := p.inbox.Enqueue(ctx, presenceDelivery(t, "A", fmt.Sprintf("u%d", from+i), "Away", int64(1_800_000_000_000+from+i))); err != nil {
					t.Fatal(err)
				}
			}
		}
		enqueue(40, 0)
		p.drain(t, "A")
		if got := lag(); got != 0 {
			t.Fatalf("lag %d after every entry was applied, want 0", got)
		}
		enqueue(12, 40)
		if got := lag(); got != 12 {
			t.Fatalf("lag %d with 12 entries waiting, want 12", got)
		}
		p.drain(t, "A")
		if got := lag(); got != 0 {
			t.Fatalf("lag %d after the second drain, want 0", got)
		}
		entries, received := 0, 0
		for _, b := range batches {
			if b.Account != "A" || b.Partition < 0 || b.Partition >= p.inbox.Partitions() {
				t.Fatalf("batch %+v", b)
			}
			entries += b.Entries
			for _, r := range b.Received {
				if r.Before(time.UnixMilli(1_800_000_000_000)) {
					t.Fatalf("received %v: not the handler's time", r)
				}
				received++
			}
		}
		if entries != 52 || received != 52 {
			t.Fatalf("batches report %d entries and %d receive times, want 52 each", entries, received)
		}
	})
}
