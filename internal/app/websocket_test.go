package app

import (
	"context"
	"encoding/json"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// wsTruth compares the state with the fake's truth: users whose stored
// presence differs from what Zoom holds now.
func wsTruth(ctx context.Context, store *zsync.Store, acct *zoomfake.Account, users []zoomfake.User) (wrong int, example string) {
	for _, u := range users {
		truth, _ := acct.User(u.ID)
		want := string(presence.ParseZoomStatus(truth.Presence))
		rec, err := store.User(ctx, acctID, u.ID)
		if err != nil || rec.Fields[zsync.FieldPresence] != want {
			wrong++
			if example == "" {
				got := "unreadable"
				if err == nil {
					got = rec.Fields[zsync.FieldPresence]
				}
				example = fmt.Sprintf("%s: state %q, Zoom %q", u.ID, got, want)
			}
		}
	}
	return wrong, example
}

// wsSender changes users' presence in the fake and sends each change on
// the subscription, remembering what was delivered.
type wsSender struct {
	acct      *zoomfake.Account
	sub       *zoomfake.WSSubscription
	users     []zoomfake.User
	rng       *mathrand.Rand
	lastTS    map[string]int64
	delivered map[string]zsync.Version // newest delivered version per user
	sent, ok  int
}

// send makes one change; false when it was lost (no connection).
func (s *wsSender) send(t *testing.T) bool {
	t.Helper()
	var u zoomfake.User
	for { // two changes of one user in one millisecond would share a version
		u = s.users[s.rng.IntN(len(s.users))]
		if s.lastTS[u.ID] < time.Now().UnixMilli() {
			break
		}
	}
	ev, err := s.acct.PresenceEvent(u.ID, presenceCycle[s.rng.IntN(len(presenceCycle))])
	if err != nil {
		t.Fatal(err)
	}
	s.lastTS[u.ID] = ev.TS
	s.sent++
	if !s.sub.Send(ev) {
		return false
	}
	s.ok++
	s.delivered[u.ID] = max(s.delivered[u.ID], zsync.Version(ev.TS*2+1))
	return true
}

// unchangedPushes counts pushes of a status that did not change (the
// status the user had before it is the same). A target may see one
// status twice in a row when the change between them was coalesced (A, B
// and back to A before B was sent): that push is a change, from B.
func (r *pushReceiver) unchangedPushes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, got := range r.got {
		for _, b := range got {
			if b.Status == b.PreviousStatus {
				n++
			}
		}
	}
	return n
}

// TestWebSocketDropsAndSilenceRepairedToTruth: events flow over the
// WebSocket; the connection is dropped 10 times at random moments and
// silenced once, while changes go on at Zoom. Every event delivered is
// applied; after each gap the state equals Zoom's truth once the repair
// has run (bound: users ÷ ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND);
// no status is pushed twice. The short form silences the socket past a
// 1 s read deadline; task reliability runs 10,000 events and a 90 s
// silence with the default 30 s heartbeat and 60 s deadline.
func TestWebSocketDropsAndSilenceRepairedToTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve against Redis for a minute")
	}
	long := reliabilityLong()
	events, nUsers, repairRate := 2000, 60, 100
	heartbeat, readTimeout, silence := "100ms", "1s", time.Duration(0) // short: until the client gave up on the silent socket
	if long {
		events, nUsers = 10000, 500
		heartbeat, readTimeout, silence = "30s", "60s", 90*time.Second
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, nUsers+nUsers/5)
	sub := acct.WebSocketSubscription("sub-reliability")
	users := activeUsers(t, acct, nUsers)
	rcv := newPushReceiver(t)
	base, store := serveReady(t, fake, r, map[string]string{
		"ZOOM_WEBSOCKET_URL":                         sub.URL(),
		"ZOOMSYNC_WEBSOCKET_HEARTBEAT":               heartbeat,
		"ZOOMSYNC_WEBSOCKET_READ_TIMEOUT":            readTimeout,
		"ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND": fmt.Sprint(repairRate),
		"ZOOMSYNC_TARGETS_FILE":                      writeTargets(t, rcv),
	})
	ctx := context.Background()
	bound := time.Duration(float64(len(acct.Users()))/float64(repairRate)*float64(time.Second)) + 15*time.Second
	converge := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := start.Add(bound)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			wrong, example := wsTruth(ctx, store, acct, users)
			if wrong == 0 {
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d users differ from Zoom %v later (bound %v), e.g. %s", what, wrong, len(users), time.Since(start), bound, example)
			}
			<-tick.C
		}
	}
	eventually(t, "the subscription connected", sub.Connected)
	converge("first connection")

	rng := mathrand.New(mathrand.NewPCG(7, 11))
	s := &wsSender{acct: acct, sub: sub, users: users, rng: rng, lastTS: map[string]int64{}, delivered: map[string]zsync.Version{}}
	const gaps = 11 // 10 drops and one silence
	silenceAt := rng.IntN(gaps)
	perRound := events / gaps
	var worst time.Duration
	for round := range gaps {
		// A random moment inside the round: some events before the fault,
		// the rest (lost or not, as the reconnection races) after it.
		cut := rng.IntN(perRound)
		for range cut {
			s.send(t)
		}
		eventually(t, "delivered events applied", func() bool { return missing(ctx, store, s.delivered) == 0 })
		before := sub.Stats().Connections
		if round == silenceAt {
			sub.SetFaults(zoomfake.WSFaults{Silent: true})
			silencedAt := time.Now()
			for range (perRound - cut) / 2 {
				if s.send(t) {
					t.Fatal("an event was delivered on a silent socket")
				}
			}
			if silence > 0 {
				<-time.After(silence - time.Since(silencedAt)) // the long form's silence is 90 s of wall time: a real socket's deadline
			}
			eventually(t, "the silent connection replaced", func() bool { return sub.Stats().Connections > before })
			sub.SetFaults(zoomfake.WSFaults{})
			t.Logf("silence: %v until the client replaced the connection", time.Since(silencedAt).Round(time.Millisecond))
		} else {
			sub.Drop()
			for range (perRound - cut) / 2 {
				s.send(t) // lost until the client is back
			}
			eventually(t, "reconnected after the drop", func() bool { return sub.Stats().Connections > before && sub.Connected() })
		}
		for range (perRound - cut) - (perRound-cut)/2 {
			s.send(t)
		}
		eventually(t, "delivered events applied", func() bool { return missing(ctx, store, s.delivered) == 0 })
		took := converge(fmt.Sprintf("gap %d", round+1))
		worst = max(worst, took)
	}
	st := sub.Stats()
	if st.Overlaps != 0 || st.MaxOpen != 1 {
		t.Errorf("overlaps %d, most open %d: one connection at a time", st.Overlaps, st.MaxOpen)
	}
	eventually(t, "pushes delivered", func() bool { return rcv.n.Load() > 0 })
	rcv.delivered(t, r.Client(), store, users)
	dups, _ := rcv.duplicates(t)
	unchanged := rcv.unchangedPushes()
	if dups != 0 || unchanged != 0 {
		t.Errorf("%d duplicate pushes, %d pushes of an unchanged status", dups, unchanged)
	}
	m := metricsText(t, base)
	for _, series := range []string{`zoomsync_websocket_reconnects_total{reason="closed",subscription="sub-reliability"}`,
		`zoomsync_websocket_repairs_total{account="acct-1",result="complete"}`} {
		if metricInt(m, series) == 0 {
			t.Errorf("%s is 0", series)
		}
	}
	t.Logf("%d events sent, %d delivered, %d lost while disconnected or silent; %d connections; worst repair to truth %v (bound %v for %d users at %d reads/s)",
		s.sent, s.ok, s.sent-s.ok, st.Connections, worst.Round(time.Millisecond), bound, len(acct.Users()), repairRate)
	reliability(t, fmt.Sprintf("WebSocket intake: %d events, 10 drops and a %s silence, %d users repaired to Zoom's truth after each gap",
		s.sent, map[bool]string{true: "90 s", false: "read-deadline"}[long], len(users)), s.ok, s.ok, 0, dups, worst)
}

// TestWebSocketOneConnectionAcrossReplicas: two and three serve
// processes share one subscription; the fake counts that never more than
// one connection is open, and after a SIGKILL of the holder another
// replica connects within 15 s and its events are applied.
func TestWebSocketOneConnectionAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs several processes")
	}
	bin := buildBinary(t)
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			r := testserver.StartRedis(t, testserver.RedisOptions{})
			fake, acct := startFake(t, 40)
			sub := acct.WebSocketSubscription(fmt.Sprintf("sub-%d", n))
			users := activeUsers(t, acct, 20)
			procs := map[string]*exec.Cmd{}
			var bases []string
			for range n {
				env := serveEnv(fake, r.URL(), "")
				env["ZOOM_WEBSOCKET_URL"] = sub.URL()
				env["ZOOMSYNC_PRESENCE_READS_PER_SECOND"] = "0"
				p, base := startServeBinary(t, bin, env)
				hostname, _ := os.Hostname()
				procs[fmt.Sprintf("%s-%d", hostname, p.Process.Pid)] = p
				bases = append(bases, base)
			}
			eventually(t, "one replica connected", sub.Connected)
			holder := func() string {
				for _, b := range bases {
					resp, err := http.Get(b + "/readyz")
					if err != nil {
						continue
					}
					var ans struct {
						WebSockets []struct {
							Holder string `json:"holder"`
						} `json:"websockets"`
					}
					_ = json.NewDecoder(resp.Body).Decode(&ans)
					resp.Body.Close()
					if len(ans.WebSockets) == 1 && ans.WebSockets[0].Holder != "" {
						return ans.WebSockets[0].Holder
					}
				}
				return ""
			}
			victim := procs[holder()]
			if victim == nil {
				t.Fatalf("holder %q is none of the replicas", holder())
			}
			before := sub.Stats().Connections
			_ = victim.Process.Kill()
			killed := time.Now()
			_ = victim.Wait()
			eventually(t, "another replica connected", func() bool { return sub.Stats().Connections > before && sub.Connected() })
			handover := time.Since(killed)
			if handover > 15*time.Second {
				t.Errorf("handover took %v, want within 15 s", handover)
			}
			store := zsync.NewStore(r.Client(), zsync.DefaultPartitions, 168*time.Hour)
			newest := map[string]zsync.Version{}
			for i, u := range users {
				ev, err := acct.PresenceEvent(u.ID, presenceCycle[i%len(presenceCycle)])
				if err != nil {
					t.Fatal(err)
				}
				if !sub.Send(ev) {
					t.Fatal("event after the handover not delivered")
				}
				newest[u.ID] = zsync.Version(ev.TS*2 + 1)
			}
			eventually(t, "events after the handover applied", func() bool { return missing(context.Background(), store, newest) == 0 })
			st := sub.Stats()
			if st.Overlaps != 0 || st.MaxOpen != 1 || st.ClosedByOther != 0 {
				t.Errorf("overlaps %d, most open %d, closed by another %d: never two connections", st.Overlaps, st.MaxOpen, st.ClosedByOther)
			}
			t.Logf("%d replicas: handover after SIGKILL of the holder in %v; %d connections in all", n, handover.Round(time.Millisecond), st.Connections)
			reliability(t, fmt.Sprintf("WebSocket subscription holder SIGKILLed, %d replicas: one connection at a time", n), len(users), len(users), 0, -1, handover)
		})
	}
}

// TestWebhooksAndWebSocketTogether: each event arrives both as a webhook
// and over the WebSocket; each is applied once in effect and every status
// change is pushed once.
func TestWebhooksAndWebSocketTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve against Redis")
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 40)
	sub := acct.WebSocketSubscription("sub-both")
	users := activeUsers(t, acct, 20)
	rcv := newPushReceiver(t)
	base, store := serveReady(t, fake, r, map[string]string{
		"ZOOM_WEBSOCKET_URL":    sub.URL(),
		"ZOOMSYNC_TARGETS_FILE": writeTargets(t, rcv),
	})
	eventually(t, "the subscription connected", sub.Connected)
	ctx := context.Background()
	eventually(t, "first repair", func() bool { w, _ := wsTruth(ctx, store, acct, users); return w == 0 })
	// The first pushes (presence first read) land before counting.
	rcv.delivered(t, r.Client(), store, users)
	rcv.mu.Lock()
	already := map[string]int{}
	for u, got := range rcv.got {
		already[u] = len(got)
	}
	rcv.mu.Unlock()
	newest := map[string]zsync.Version{}
	changes := map[string]int{}
	for round := range 5 {
		for i, u := range users {
			status := presenceCycle[(i+round)%len(presenceCycle)]
			ev, err := acct.PresenceEvent(u.ID, status)
			if err != nil {
				t.Fatal(err)
			}
			// Zoom delivers the same event both ways, in either order.
			if round%2 == 0 {
				sub.Send(ev)
			}
			if code, err := acct.Deliver(ctx, base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
				t.Fatalf("webhook: %d %v", code, err)
			}
			if round%2 == 1 {
				sub.Send(ev)
			}
			newest[u.ID] = zsync.Version(ev.TS*2 + 1)
			changes[u.ID]++
		}
		eventually(t, "events applied", func() bool { return missing(ctx, store, newest) == 0 })
	}
	rcv.delivered(t, r.Client(), store, users)
	dups, _ := rcv.duplicates(t)
	if dups != 0 || rcv.unchangedPushes() != 0 {
		t.Errorf("%d duplicate pushes, %d of an unchanged status", dups, rcv.unchangedPushes())
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, u := range users {
		if n := len(rcv.got[u.ID]) - already[u.ID]; n > changes[u.ID] {
			t.Errorf("user %s: %d pushes for %d changes", u.ID, n, changes[u.ID])
		}
	}
	m := metricsText(t, base)
	ws := metricInt(m, `zoomsync_intake_events_total{event="user.presence_status_updated",intake="websocket",outcome="accepted"}`)
	wh := metricInt(m, `zoomsync_intake_events_total{event="user.presence_status_updated",intake="webhook",outcome="accepted"}`)
	if ws != 100 || wh != 100 {
		t.Errorf("intake counts: websocket %d, webhook %d; want 100 each", ws, wh)
	}
	if !strings.Contains(m, "zoomsync_websocket_state") {
		t.Error("no zoomsync_websocket_state in /metrics")
	}
}
