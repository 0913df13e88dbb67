package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence/target"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// arrivals records when each (user, status since) push reached the target.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func arrivalKey(user string, ms int64) string { return fmt.Sprintf("%s/%d", user, ms) }

func (a *arrivals) get(k string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[k]
	return t, ok
}

// waitUntil polls cond every 5 ms up to limit; false when it never held.
func waitUntil(limit time.Duration, cond func() bool) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// BenchmarkWebSocketIntake: events over one WebSocket subscription
// through serve to state and to a webhook target, on redis-server with
// AOF. Throughput: 20,000 presence changes of 2,000 users sent as fast as
// the fake writes them; reference in the same run: the same changes as
// signed webhooks from 32 senders (x-webhook, to state). Latency: 1,000
// events/s for 10 s, half as webhooks and half over the socket, each
// from send to its push at the target (x-webhook-p50: the socket's p50 ÷
// the webhooks').
func BenchmarkWebSocketIntake(b *testing.B) {
	if os.Getenv("ZOOMSYNC_BENCH_WS") == "" {
		b.Skip("set ZOOMSYNC_BENCH_WS=1: about 40 s per run")
	}
	const users, events = 2000, 20_000
	r := testserver.StartRedis(b, testserver.RedisOptions{AOF: true})
	fake, acct := startFakeB(b, users+users/5)
	sub := acct.WebSocketSubscription("sub-bench")
	var active []zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" && len(active) < users {
			active = append(active, u)
		}
	}
	arr := &arrivals{at: map[string]time.Time{}}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		now := time.Now()
		var body target.WebhookBody
		_ = json.NewDecoder(req.Body).Decode(&body)
		arr.mu.Lock()
		arr.at[arrivalKey(body.ZoomUserID, body.Since.UnixMilli())] = now
		arr.mu.Unlock()
	}))
	defer rcv.Close()
	targets := filepath.Join(b.TempDir(), "targets.json")
	_ = os.WriteFile(targets, []byte(fmt.Sprintf(`[{"name":"bench","type":"webhook","url":%q,"secret":"bench-secret-0123456789",
		"status_map":{"available":"A","in_meeting":"M"}}]`, rcv.URL)), 0o600)
	env := serveEnv(fake, r.URL(), "127.0.0.1:0")
	env["ZOOMSYNC_TARGETS_FILE"] = targets
	env["ZOOMSYNC_PRESENCE_READS_PER_SECOND"] = "0"
	env["ZOOM_WEBSOCKET_URL"] = sub.URL()
	env["ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND"] = "100"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startServe(ctx, loadConfig(b, env), "")
	if !waitUntil(60*time.Second, func() bool { return status(base+"/readyz") == 200 && sub.Connected() }) {
		b.Fatal("serve not ready and connected within 60 s")
	}
	// The first connection's repair re-reads every user's presence; it
	// must not overlap the measurement (it reads what Zoom holds now,
	// which the batches below set ahead of their events).
	if !waitUntil(120*time.Second, func() bool {
		return metricInt(metricsText(b, base), `zoomsync_websocket_repairs_total{account="acct-1",result="complete"}`) > 0
	}) {
		b.Fatal("the first gap repair did not complete within 120 s")
	}
	store := zsync.NewStore(r.Client(), zsync.DefaultPartitions, 168*time.Hour)
	webhookURL := base + "/webhooks/zoom/" + acctID
	round := 0
	// batch makes one presence change per event, every one a change of
	// its user's status, and returns the events with each user's last.
	batch := func(n int) ([]zoomfake.Event, []zoomfake.User, map[string]zsync.Version) {
		evs := make([]zoomfake.Event, n)
		who := make([]zoomfake.User, n)
		last := map[string]zsync.Version{}
		for i := range n {
			u := active[i%len(active)]
			st := []string{"Available", "In_Meeting"}[(round+i/len(active))%2]
			ev, err := acct.PresenceEvent(u.ID, st)
			if err != nil {
				b.Fatal(err)
			}
			evs[i], who[i] = ev, u
			last[u.ID] = zsync.Version(ev.TS*2 + 1)
		}
		round++
		return evs, who, last
	}
	inbox := zsync.NewInbox(r.Client(), zsync.InboxOptions{})
	// applied: the inbox streams are drained (cheap to poll), then every
	// user's last change is in state (read once).
	applied := func(last map[string]zsync.Version) bool {
		stats, err := inbox.Stats(context.Background(), acctID)
		if err != nil {
			return false
		}
		for _, s := range stats {
			if s.Lag+s.Pending > 0 {
				return false
			}
		}
		return missing(context.Background(), store, last) == 0
	}
	pushed := func(evs []zoomfake.Event, who []zoomfake.User) bool {
		for i := len(evs) - len(active); i < len(evs); i++ {
			if _, ok := arr.get(arrivalKey(who[i].ID, evs[i].TS)); !ok {
				return false
			}
		}
		return true
	}
	// Event timestamps are milliseconds: one user's changes must lie at
	// least 1 ms apart (users ≫ events per ms keeps them so).
	b.ResetTimer()
	var wsState, wsTarget, whState []float64
	var wsLat, whLat []time.Duration
	for range b.N {
		// The socket, to state and to the target.
		evs, who, last := batch(events)
		start := time.Now()
		for _, ev := range evs {
			if !sub.Send(ev) {
				b.Fatal("the subscription dropped during the benchmark")
			}
		}
		if !waitUntil(120*time.Second, func() bool { return applied(last) }) {
			b.Fatal("socket events not applied within 120 s")
		}
		wsState = append(wsState, float64(events)/time.Since(start).Seconds())
		if !waitUntil(120*time.Second, func() bool { return pushed(evs, who) }) {
			missingPush := 0
			example := ""
			for i := len(evs) - len(active); i < len(evs); i++ {
				if _, ok := arr.get(arrivalKey(who[i].ID, evs[i].TS)); !ok {
					missingPush++
					if example == "" {
						rec, _ := store.User(context.Background(), acctID, who[i].ID)
						example = fmt.Sprintf("%s at %d: record %v", who[i].ID, evs[i].TS, rec.Fields)
					}
				}
			}
			b.Fatalf("socket events not pushed within 120 s: %d users, e.g. %s", missingPush, example)
		}
		wsTarget = append(wsTarget, float64(events)/time.Since(start).Seconds())

		// The reference: the same number of changes as webhooks.
		evs, _, last = batch(events)
		start = time.Now()
		var next sync.WaitGroup
		work := make(chan zoomfake.Event)
		for range 32 {
			next.Add(1)
			go func() {
				defer next.Done()
				for ev := range work {
					if code, err := acct.Deliver(context.Background(), webhookURL, ev); err != nil || code != 200 {
						b.Errorf("webhook: %d %v", code, err)
					}
				}
			}()
		}
		for _, ev := range evs {
			work <- ev
		}
		close(work)
		next.Wait()
		if !waitUntil(120*time.Second, func() bool { return applied(last) }) {
			b.Fatal("webhooks not applied within 120 s")
		}
		whState = append(whState, float64(events)/time.Since(start).Seconds())

		// Latency at 1,000 events/s, both intakes in the same seconds.
		const rate, seconds = 1000, 10
		n := rate * seconds
		evs, who, _ = batch(n)
		sentAt := make([]time.Time, n)
		var wg sync.WaitGroup
		t0 := time.Now()
		for i, ev := range evs {
			if d := time.Until(t0.Add(time.Duration(i) * time.Second / rate)); d > 0 {
				<-time.After(d)
			}
			sentAt[i] = time.Now()
			if i%2 == 0 {
				sub.Send(ev)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = acct.Deliver(context.Background(), webhookURL, ev)
			}()
		}
		wg.Wait()
		waitUntil(30*time.Second, func() bool { return pushed(evs, who) })
		for i, ev := range evs {
			at, ok := arr.get(arrivalKey(who[i].ID, ev.TS))
			if !ok {
				continue // coalesced into a later change of the same user
			}
			if i%2 == 0 {
				wsLat = append(wsLat, at.Sub(sentAt[i]))
			} else {
				whLat = append(whLat, at.Sub(sentAt[i]))
			}
		}
	}
	b.StopTimer()
	median := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	slices.Sort(wsLat)
	slices.Sort(whLat)
	b.ReportMetric(median(wsState), "events/s")
	b.ReportMetric(median(wsTarget), "target-events/s")
	b.ReportMetric(median(whState), "ref-webhook-events/s")
	b.ReportMetric(median(wsState)/median(whState), "x-webhook")
	b.ReportMetric(ms(wsLat[len(wsLat)/2]), "p50-ms@1k/s")
	b.ReportMetric(ms(wsLat[len(wsLat)*99/100]), "p99-ms@1k/s")
	b.ReportMetric(ms(whLat[len(whLat)/2]), "ref-webhook-p50-ms@1k/s")
	b.ReportMetric(ms(whLat[len(whLat)*99/100]), "ref-webhook-p99-ms@1k/s")
	b.ReportMetric(ms(wsLat[len(wsLat)/2])/ms(whLat[len(whLat)/2]), "x-webhook-p50")
	cancel()
	<-done
}
