package zoomws_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
	"github.com/zoomsync/zoomsync/zoomapi/zoomws"
)

// memSink is an inbox in memory: it keeps every delivery it accepts and
// refuses while failing is set.
type memSink struct {
	mu      sync.Mutex
	got     []webhook.Delivery
	failing bool
	changed chan struct{}
}

func newMemSink() *memSink { return &memSink{changed: make(chan struct{}, 1)} }

func (s *memSink) Enqueue(ctx context.Context, d webhook.Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return fmt.Errorf("inbox unavailable")
	}
	s.got = append(s.got, d)
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

func (s *memSink) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

// counts is an Observer that counts.
type counts struct {
	mu         sync.Mutex
	frames     map[string]int
	events     map[string]int
	reconnects map[string]int
	states     []zoomws.State
}

func newCounts() *counts {
	return &counts{frames: map[string]int{}, events: map[string]int{}, reconnects: map[string]int{}}
}
func (c *counts) State(_ string, s zoomws.State) {
	c.mu.Lock()
	c.states = append(c.states, s)
	c.mu.Unlock()
}
func (c *counts) Frame(_, m string)     { c.mu.Lock(); c.frames[m]++; c.mu.Unlock() }
func (c *counts) Event(_, _, o string)  { c.mu.Lock(); c.events[o]++; c.mu.Unlock() }
func (c *counts) Reconnect(_, r string) { c.mu.Lock(); c.reconnects[r]++; c.mu.Unlock() }
func (c *counts) get(m map[string]int, k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[k]
}

// rig is a fake Zoom with one account and subscription, and a client
// for it.
type rig struct {
	zoom   *zoomfake.Server
	acct   *zoomfake.Account
	sub    *zoomfake.WSSubscription
	api    *zoomapi.Client
	sink   *memSink
	obs    *counts
	client *zoomws.Client
	gaps   chan zoomws.Gap
	cancel context.CancelFunc
	done   chan struct{}
}

type rigOptions struct {
	clock       clockwork.Clock // the client's; the fake Zoom runs on real time
	heartbeat   time.Duration
	readTimeout time.Duration
	lease       zoomws.Lease
	faults      zoomfake.WSFaults
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	zoom, err := zoomfake.Start(zoomfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zoom.Close)
	acct := zoom.AddAccount(zoomfake.AccountSpec{ID: "acct1", ClientID: "cid", ClientSecret: "csecret", WebhookSecret: "whsecret", Users: 20})
	sub := acct.WebSocketSubscription("sub1")
	sub.SetFaults(o.faults)
	api, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: "acct1", ClientID: "cid", ClientSecret: secret.New("csecret")},
		zoomapi.WithBaseURL(zoom.APIBaseURL()), zoomapi.WithTokenURL(zoom.TokenURL()))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{zoom: zoom, acct: acct, sub: sub, api: api, sink: newMemSink(), obs: newCounts(), gaps: make(chan zoomws.Gap, 64)}
	if o.clock == nil {
		o.clock = clockwork.NewRealClock()
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	r.client = r.newClient(t, o, log)
	return r
}

func (r *rig) newClient(t *testing.T, o rigOptions, log *slog.Logger) *zoomws.Client {
	t.Helper()
	c, err := zoomws.New(zoomws.Options{Subscription: r.sub.ID(), URL: r.sub.URL(), Account: "acct1", Tokens: r.api, Sink: r.sink,
		Observer: r.obs, Lease: o.lease, Clock: o.clock, Logger: log, Heartbeat: o.heartbeat, ReadTimeout: o.readTimeout,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnGap: func(_ context.Context, g zoomws.Gap) {
			select {
			case r.gaps <- g:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *rig) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); _ = r.client.Run(ctx) }()
	t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// eventually waits, up to 10 s, for cond; each look first runs step
// (advancing a fake clock, say).
func eventually(t *testing.T, what string, step func(), cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
			if step != nil {
				step()
			}
		}
	}
}

func (r *rig) waitGap(t *testing.T) zoomws.Gap {
	t.Helper()
	select {
	case g := <-r.gaps:
		return g
	case <-time.After(10 * time.Second):
		t.Fatal("no connection established")
	}
	return zoomws.Gap{}
}

func (r *rig) presence(t *testing.T, i int, status string) zoomfake.Event {
	t.Helper()
	users := r.acct.Users()
	ev, err := r.acct.PresenceEvent(users[i%len(users)].ID, status)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestWebSocketEventsReachTheInboxAsWebhooksDo(t *testing.T) {
	r := newRig(t, rigOptions{heartbeat: 20 * time.Millisecond})
	r.start(t)
	g := r.waitGap(t)
	if !g.Start.IsZero() {
		t.Errorf("first connection's gap starts at %v, want unknown", g.Start)
	}
	for i := range 50 {
		if !r.sub.Send(r.presence(t, i, "Away")) {
			t.Fatalf("event %d not delivered", i)
		}
	}
	eventually(t, "50 events stored", nil, func() bool { return r.sink.len() == 50 })
	d := r.sink.got[0]
	if d.AccountID != "acct1" || d.Intake != webhook.IntakeWebSocket || d.Event.Name != "user.presence_status_updated" || d.Event.UserID() == "" {
		t.Errorf("delivery = %+v, want a decoded presence event of acct1 from the websocket", d)
	}
	eventually(t, "heartbeats answered", nil, func() bool { return r.sub.Stats().Heartbeats >= 2 && r.obs.get(r.obs.frames, "heartbeat") >= 2 })
	if st := r.sub.Stats(); st.ClientJunk != 0 {
		t.Errorf("the client sent %d frames that are not Zoom's heartbeat", st.ClientJunk)
	}
	r.stop()
	if st := r.client.Status(); st.State != zoomws.StateStopped {
		t.Errorf("state after shutdown = %s", st.State)
	}
	eventually(t, "the fake sees the close", nil, func() bool { return !r.sub.Connected() })
}

func TestWebSocketMalformedFramesAreCountedAndSkipped(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start(t)
	r.waitGap(t)
	junk := []string{
		`not json`,
		`{"module":42}`,
		`[]`,
		`{"module":"message","content":"not an event"}`,
		`{"module":"message","content":"{\"payload\":{}}"}`,
		`{"module":"message","content":{"event":"user.presence_status_updated","event_ts":1,"payload":{"account_id":"acct1","object":{"id":"u1","presence_status":"Away"}}}}`,
		`{"module":"message","content":"{\"event\":\"user.updated\",\"payload\":{\"account_id\":\"someone-else\",\"object\":{\"id\":\"x\"}}}"}`,
		`{"module":"brand_new_module","content":"whatever"}`,
		`{"module":"message","content":"{\"event\":\"endpoint.url_validation\",\"payload\":{\"plainToken\":\"x\"}}"}`,
	}
	for _, j := range junk {
		if !r.sub.SendRaw(j) {
			t.Fatalf("could not send %q", j)
		}
	}
	r.sub.SendBinary([]byte{0, 1, 2})
	if !r.sub.Send(r.presence(t, 1, "Available")) {
		t.Fatal("event after the junk not delivered")
	}
	// The object-content event and the last good one are stored; the
	// reader went on past everything else.
	eventually(t, "the good events stored", nil, func() bool { return r.sink.len() == 2 })
	// Events are stored concurrently (up to 64 in flight): a refused
	// event's outcome is counted by its own goroutine, which may finish
	// after the good ones were stored.
	eventually(t, "the refused events counted", nil, func() bool {
		return r.obs.get(r.obs.events, zoomws.OutcomeUnknownAccount) >= 1 && r.obs.get(r.obs.events, zoomws.OutcomeMalformed) >= 2
	})
	if n := r.obs.get(r.obs.frames, zoomws.ModuleMalformed); n != 4 {
		t.Errorf("malformed frames = %d, want 4", n)
	}
	if n := r.obs.get(r.obs.events, zoomws.OutcomeMalformed); n != 2 {
		t.Errorf("malformed events = %d, want 2", n)
	}
	if n := r.obs.get(r.obs.events, zoomws.OutcomeUnknownAccount); n != 1 {
		t.Errorf("events of an unknown account = %d, want 1", n)
	}
	if n := r.obs.get(r.obs.frames, zoomws.ModuleOther); n != 1 {
		t.Errorf("other modules = %d, want 1", n)
	}
	if st := r.sub.Stats(); st.Connections != 1 {
		t.Errorf("connections = %d: junk must not cost the connection", st.Connections)
	}
}

func TestWebSocketTokenExpiryMidConnectionBothWordings(t *testing.T) {
	for _, wording := range []string{"Invalid Token", "Token is invalid"} {
		t.Run(wording, func(t *testing.T) {
			r := newRig(t, rigOptions{heartbeat: 20 * time.Millisecond, faults: zoomfake.WSFaults{InvalidTokenWording: wording}})
			r.start(t)
			r.waitGap(t)
			r.zoom.ExpireAccessTokens() // the connection's token is now refused at its next heartbeat
			g := r.waitGap(t)
			if g.Start.IsZero() {
				t.Error("the reconnection's gap has no start")
			}
			if n := r.obs.get(r.obs.reconnects, zoomws.ReasonInvalidToken); n != 1 {
				t.Errorf("invalid-token reconnects = %d, want 1 (one forced refresh)", n)
			}
			for i := range 10 {
				if !r.sub.Send(r.presence(t, i, "Busy")) {
					t.Fatalf("event %d after the reconnect not delivered", i)
				}
			}
			eventually(t, "events after the reconnect stored", nil, func() bool { return r.sink.len() == 10 })
		})
	}
}

func TestWebSocketFallsBackToClientCredentialsToken(t *testing.T) {
	r := newRig(t, rigOptions{faults: zoomfake.WSFaults{RejectAccountTokens: true, InvalidTokenWording: "Token is invalid"}})
	r.start(t)
	r.waitGap(t)
	if st := r.sub.Stats(); st.Refused != 2 || st.Connections != 1 {
		t.Errorf("refused %d, connected %d: want the cached and a fresh account token refused, then the fallback", st.Refused, st.Connections)
	}
	r.sub.Drop()
	r.waitGap(t)
	if st := r.sub.Stats(); st.Refused != 2 {
		t.Errorf("refused %d after a drop: the fallback that worked should be used first", st.Refused)
	}
}

func TestWebSocketSilenceIsDetectedOnTheClientsClock(t *testing.T) {
	clock := clockwork.NewFakeClock()
	r := newRig(t, rigOptions{clock: clock})
	r.start(t)
	r.waitGap(t)
	r.sub.SetFaults(zoomfake.WSFaults{Silent: true})
	// Ninety seconds of silence pass on the client's clock, not the wall's.
	silencedAt := clock.Now()
	eventually(t, "the silent connection replaced", func() { clock.Advance(time.Second) },
		func() bool { return r.obs.get(r.obs.reconnects, zoomws.ReasonSilent) == 1 })
	if waited := clock.Since(silencedAt); waited < 60*time.Second || waited > 90*time.Second {
		t.Errorf("silence detected after %v, want the 60 s read deadline", waited)
	}
	r.sub.SetFaults(zoomfake.WSFaults{})
	var g zoomws.Gap
	eventually(t, "reconnected", func() { clock.Advance(100 * time.Millisecond) }, func() bool {
		select {
		case g = <-r.gaps:
			return true
		default:
			return false
		}
	})
	if g.End.Sub(g.Start) < 60*time.Second {
		t.Errorf("gap %v–%v shorter than the silence", g.Start, g.End)
	}
}

func TestWebSocketReplacesConnectionBeforeTokenExpires(t *testing.T) {
	clock := clockwork.NewFakeClock()
	r := newRig(t, rigOptions{clock: clock, heartbeat: time.Hour, readTimeout: 2 * time.Hour})
	r.start(t)
	r.waitGap(t)
	eventually(t, "replaced before expiry", func() { clock.Advance(time.Minute) },
		func() bool { return r.obs.get(r.obs.reconnects, zoomws.ReasonTokenExpiring) == 1 })
	r.waitGap(t)
	if st := r.sub.Stats(); st.Overlaps != 0 || st.Refused != 0 {
		t.Errorf("overlaps %d, refused %d: the old connection closes before the new one opens, with a new token", st.Overlaps, st.Refused)
	}
}

func TestWebSocketKeepsRetryingTheInboxWhileConnected(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.start(t)
	r.waitGap(t)
	r.sink.mu.Lock()
	r.sink.failing = true
	r.sink.mu.Unlock()
	r.sub.Send(r.presence(t, 3, "Away"))
	eventually(t, "a retry", nil, func() bool { return r.client.Status().State == zoomws.StateConnected })
	r.sink.mu.Lock()
	r.sink.failing = false
	r.sink.mu.Unlock()
	eventually(t, "the event stored after the inbox came back", nil, func() bool { return r.sink.len() == 1 })
}
