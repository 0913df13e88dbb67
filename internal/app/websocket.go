package app

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/coord"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/sync/gaprepair"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomws"
)

// webSocketLeaseTTL bounds how long a subscription stays unconnected
// after its holder dies without releasing the lease (SIGKILL, a lost
// node): the others try every second, so one connects within ~11 s.
const webSocketLeaseTTL = 10 * time.Second

// webSockets runs the configured WebSocket event subscriptions: each is
// connected by exactly one replica (a lease per subscription), its
// events go into the inbox like webhooks, and every new connection's gap
// is repaired through the REST API.
type webSockets struct {
	clients  []*zoomws.Client
	leases   map[string]*coord.Lease
	repairer *gaprepair.Repairer
	log      *slog.Logger
}

// webSocketOptions are what newWebSockets needs from Serve.
type webSocketOptions struct {
	cfg      *config.Config
	rdb      redis.UniversalClient
	store    *zsync.Store
	sink     webhook.Sink
	accounts map[string]*account
	replica  string
	clock    clockwork.Clock
	log      *slog.Logger
	wm       *webSocketMetrics
	// accepted is told about every event stored (the mapping's dirty
	// mark, as for webhooks).
	accepted func(event string)
	// leaseTTL overrides webSocketLeaseTTL (tests).
	leaseTTL time.Duration
}

// newWebSockets returns nil when no account has a subscription.
func newWebSockets(o webSocketOptions) (*webSockets, error) {
	ids := make([]string, 0, len(o.accounts))
	for id, a := range o.accounts {
		if _, _, ok := a.cfg.WebSocketEndpoint(); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	ttl := o.leaseTTL
	if ttl <= 0 {
		ttl = webSocketLeaseTTL
	}
	wm := o.wm
	marks := gaprepair.NewMarks(o.rdb)
	var repairAccounts []gaprepair.Account
	for _, id := range ids {
		a := o.accounts[id]
		repairAccounts = append(repairAccounts, gaprepair.Account{ID: id, Presence: a.client.Users,
			PullUsers: func(ctx context.Context) error {
				_, err := zsync.NewPuller(o.rdb, o.store, a.client, o.clock, o.log).Pull(ctx)
				return err
			}})
	}
	w := &webSockets{leases: map[string]*coord.Lease{}, log: o.log,
		repairer: gaprepair.New(gaprepair.Options{Store: o.store, Accounts: repairAccounts, ReadsPerSecond: o.cfg.WebSocket.RepairReadsPerSecond,
			Marks: marks, Observer: wm, Clock: o.clock, Logger: o.log})}
	for _, id := range ids {
		a := o.accounts[id]
		sub, endpoint, _ := a.cfg.WebSocketEndpoint()
		lease := coord.NewLease(o.rdb, "websocket:"+sub, coord.LeaseOptions{Owner: o.replica, TTL: ttl, Clock: o.clock, Logger: o.log})
		w.leases[sub] = lease
		c, err := zoomws.New(zoomws.Options{
			Subscription: sub, URL: endpoint, Account: id,
			KnownAccount: func(other string) bool { _, ok := o.accounts[other]; return ok },
			Tokens:       a.client, Sink: o.sink, Lease: wsLease{lease: lease, owner: o.replica}, Marks: marks,
			Observer: observerFunc{metrics: wm, accepted: o.accepted},
			OnGap: func(ctx context.Context, g zoomws.Gap) {
				if !g.Start.IsZero() {
					wm.gapSeconds.WithLabelValues(g.Account).Observe(g.End.Sub(g.Start).Seconds())
				}
				w.repairer.Repair(context.WithoutCancel(ctx), g.Account, g.Subscription, g.Start, g.End)
			},
			Heartbeat: o.cfg.WebSocket.Heartbeat, ReadTimeout: o.cfg.WebSocket.ReadTimeout,
			Clock: o.clock, Logger: o.log,
		})
		if err != nil {
			return nil, err
		}
		w.clients = append(w.clients, c)
	}
	return w, nil
}

// run keeps every subscription connected (or standing by) until ctx
// ends, then waits for the repairs under way, which stop with it.
func (w *webSockets) run(ctx context.Context) {
	var wg conc.WaitGroup
	for _, c := range w.clients {
		wg.Go(func() { _ = c.Run(ctx) })
	}
	wg.Wait()
	w.repairer.Wait()
}

// webSocketStatus is one subscription in /readyz: this replica's state
// and the replica holding the connection.
type webSocketStatus struct {
	zoomws.Status
	Holder string `json:"holder,omitempty"`
}

// status reports every subscription for /readyz. It never makes a
// replica unready: a standby replica serves webhooks and the API all the
// same, and the connection lives on whichever replica holds the lease.
func (w *webSockets) status(r *http.Request) []webSocketStatus {
	out := make([]webSocketStatus, 0, len(w.clients))
	for _, c := range w.clients {
		st := webSocketStatus{Status: c.Status()}
		if f, err := w.leases[st.Subscription].Holder(r.Context()); err == nil {
			st.Holder = f.Owner
		}
		out = append(out, st)
	}
	return out
}

// wsLease adapts a coord.Lease to zoomws.Lease.
type wsLease struct {
	lease *coord.Lease
	owner string
}

func (l wsLease) Hold(ctx context.Context, fn func(ctx context.Context, fence int64) error) (bool, error) {
	return l.lease.Hold(ctx, func(ctx context.Context, f coord.Fence) error { return fn(ctx, f.Token) })
}

func (l wsLease) Check(ctx context.Context, fence int64) error {
	return l.lease.Check(ctx, coord.Fence{Owner: l.owner, Token: fence})
}

// webSocketMetrics are the subscriptions' and the repairs' series.
type webSocketMetrics struct {
	state       *prometheus.GaugeVec
	reconnects  *prometheus.CounterVec
	frames      *prometheus.CounterVec
	events      *prometheus.CounterVec
	gapSeconds  *prometheus.HistogramVec
	repairs     *prometheus.CounterVec
	repairUsers *prometheus.GaugeVec
	repairDone  *prometheus.GaugeVec
}

var webSocketStates = []zoomws.State{zoomws.StateStandby, zoomws.StateConnecting, zoomws.StateConnected, zoomws.StateBackoff, zoomws.StateStopped}

// newWebSocketMetrics declares the series through the process's metric
// catalogue.
func newWebSocketMetrics(pm *metrics) *webSocketMetrics {
	return &webSocketMetrics{
		state: pm.gaugeVec("zoomsync_websocket_state",
			"1 for the state each WebSocket subscription is in on this replica: connected, standby (another replica holds it), connecting, backoff, stopped.",
			"subscription", "state"),
		reconnects: pm.counterVec("zoomsync_websocket_reconnects_total",
			"WebSocket connections ended, by why: closed, silent, token_expiring, invalid_token, refused, dial_failed, no_token.",
			"subscription", "reason"),
		frames: pm.counterVec("zoomsync_websocket_frames_total",
			"Frames received from Zoom by module: message, heartbeat, build_connection, other, malformed.", "subscription", "module"),
		events: pm.counterVec("zoomsync_intake_events_total",
			"Events received by intake (webhook, websocket), event family and outcome.", "intake", "event", "outcome"),
		gapSeconds: pm.histogramVec("zoomsync_websocket_gap_seconds",
			"How long each WebSocket gap lasted (from the last stored event or heartbeat to the new connection).",
			prometheus.ExponentialBuckets(0.5, 2, 16), "account"),
		repairs: pm.counterVec("zoomsync_websocket_repairs_total",
			"Gap repairs by result: complete, failed (run again), stopped.", "account", "result"),
		repairUsers: pm.gaugeVec("zoomsync_websocket_repair_users",
			"Presence re-reads the current (or last) gap repair has to do.", "account"),
		repairDone: pm.gaugeVec("zoomsync_websocket_repair_done_users",
			"Presence re-reads the current (or last) gap repair has done.", "account"),
	}
}

func (m *webSocketMetrics) RepairStarted(account string, _ time.Duration, users int) {
	m.repairUsers.WithLabelValues(account).Set(float64(users))
	m.repairDone.WithLabelValues(account).Set(0)
}

func (m *webSocketMetrics) RepairProgress(account string, done, _ int) {
	m.repairDone.WithLabelValues(account).Set(float64(done))
}

func (m *webSocketMetrics) RepairFinished(account, result string, _ time.Duration) {
	m.repairs.WithLabelValues(account, result).Inc()
}

// observerFunc is the zoomws.Observer of one process.
type observerFunc struct {
	metrics  *webSocketMetrics
	accepted func(event string)
}

func (o observerFunc) State(sub string, s zoomws.State) {
	for _, st := range webSocketStates {
		v := 0.0
		if st == s {
			v = 1
		}
		o.metrics.state.WithLabelValues(sub, string(st)).Set(v)
	}
}

func (o observerFunc) Frame(sub, module string) { o.metrics.frames.WithLabelValues(sub, module).Inc() }

func (o observerFunc) Event(_, event, outcome string) {
	o.metrics.events.WithLabelValues(webhook.IntakeWebSocket, webhookEventLabel(event), outcome).Inc()
	if outcome == zoomws.OutcomeAccepted && o.accepted != nil {
		o.accepted(event)
	}
}

func (o observerFunc) Reconnect(sub, reason string) {
	o.metrics.reconnects.WithLabelValues(sub, reason).Inc()
}
