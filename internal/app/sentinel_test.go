package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestServeWithSentinelFailover: serve finds the master through three
// Sentinels (ZOOMSYNC_REDIS_ADDRS + ZOOMSYNC_REDIS_MASTER_NAME) and
// acknowledges a webhook only once a replica has it too
// (ZOOMSYNC_REDIS_MIN_REPLICAS=1). Webhooks keep coming while the master
// is SIGKILLed, a Sentinel promotes the replica and the old master comes
// back as its replica: serve follows by itself, and every webhook it
// acknowledged — before, during or after — is in the final state.
func TestServeWithSentinelFailover(t *testing.T) {
	s := testserver.StartSentinelWith(t, testserver.SentinelOptions{Security: runSecurity(t)})
	fake, acct := startFake(t, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := s.Env()
	env["ZOOMSYNC_REDIS_MIN_REPLICAS"] = "1"
	base, done := serveOnRedisAddrs(ctx, t, fake, s.Addrs(), env)
	var active []zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" {
			active = append(active, u)
		}
	}

	var mu sync.Mutex
	var acks []acked
	var firstAfter time.Time // the first webhook acknowledged after the failover
	after := 0               // acknowledged since the failover
	failedOver := false
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := active[i%len(active)]
			ev, err := acct.PresenceEvent(u.ID, []string{"Away", "In_Meeting", "Available", "Do_Not_Disturb"}[i%4])
			if err != nil {
				t.Error(err)
				return
			}
			if code, err := acct.Deliver(ctx, base+"/webhooks/zoom/"+acctID, ev); err == nil && code == 200 {
				mu.Lock()
				acks = append(acks, acked{u.ID, zsync.WebhookVersion(ev.TS)})
				if failedOver {
					after++
					if after == 1 {
						firstAfter = time.Now()
					}
				}
				mu.Unlock()
			}
		}
	}()
	eventually(t, "webhooks acknowledged before the failover", func() bool { mu.Lock(); defer mu.Unlock(); return len(acks) > 200 })
	old, _ := s.MasterAddr(ctx)
	killed := time.Now()
	s.Master.Kill()
	eventually(t, "a Sentinel promotes the replica", func() bool {
		a, err := s.MasterAddr(ctx)
		return err == nil && a != old
	})
	mu.Lock()
	failedOver = true
	mu.Unlock()
	// With no replica left, webhooks answer 503 (Zoom retries); the old
	// master returns and Sentinel makes it the new master's replica.
	s.Master.Restart()
	eventually(t, "webhooks acknowledged again after the failover", func() bool { mu.Lock(); defer mu.Unlock(); return after > 50 })
	close(stop)
	<-sent

	master, _ := s.MasterAddr(ctx)
	o := s.Master.Options()
	o.Addr = master
	rdb := redis.NewClient(o)
	defer rdb.Close()
	store := zsync.NewStore(rdb, zsync.DefaultPartitions, 0)
	newest := map[string]zsync.Version{}
	for _, a := range acks {
		newest[a.user] = max(newest[a.user], a.version)
	}
	eventually(t, "every acknowledged webhook in the state", func() bool {
		for user, v := range newest {
			rec, err := store.User(ctx, acctID, user)
			if err != nil || rec.Versions[zsync.FieldZoomStatus] < v {
				return false
			}
		}
		return true
	})
	t.Logf("%d webhooks acknowledged (%d after the failover), all in the state", len(acks), after)
	mu.Lock()
	recovery := firstAfter.Sub(killed)
	mu.Unlock()
	reliability(t, "Redis master SIGKILLed, Sentinel failover (ZOOMSYNC_REDIS_MIN_REPLICAS=1)", len(acks), len(acks), 0, -1, recovery)
	cancel()
	<-done
}
