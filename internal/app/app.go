package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/presence/target"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// Options are what Serve needs beside the configuration.
type Options struct {
	Logger *slog.Logger
	Clock  clockwork.Clock
	// Listening, if set, receives the bound address once the server accepts
	// connections (tests and the demo use port 0).
	Listening func(addr string)
	// Replica names this process among those sharing Redis (consumer name,
	// lease owner); default host-pid.
	Replica string
	// Reload, if set, re-reads the accounts file on every value (the
	// command line sends one per SIGHUP).
	Reload <-chan struct{}

	// limits overrides the HTTP server's limits (tests); nil: the defaults.
	limits *httpLimits
}

// account is one configured Zoom account at run time.
type account struct {
	cfg    config.Account
	client *zoomapi.Client
}

// Serve runs `zoomsync serve` until ctx ends.
func Serve(ctx context.Context, cfg *config.Config, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := opts.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if len(cfg.Zoom.Accounts) == 0 {
		return configErrorf("zoomsync serve: no Zoom account configured (set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET and ZOOM_WEBHOOK_SECRET_TOKEN, or ZOOMSYNC_ACCOUNTS_FILE)")
	}
	rdb, closeRedis, err := openRedis(ctx, cfg.Redis, log, 2*len(cfg.Zoom.Accounts)*partitions(cfg))
	if err != nil {
		return err
	}
	defer closeRedis()
	m := newMetrics()

	accounts := map[string]*account{}
	for _, a := range cfg.Zoom.Accounts {
		c, err := zoomapi.NewClient(a.Credentials(), zoomapi.WithBaseURL(cfg.Zoom.APIBaseURLFor(a)), zoomapi.WithTokenURL(cfg.Zoom.TokenURL),
			zoomapi.WithRateLimits(cfg.Zoom.RateLimits), zoomapi.WithLogger(log), zoomapi.WithClock(clock), zoomapi.WithObserver(m))
		if err != nil {
			return asConfigError(err)
		}
		accounts[a.ID] = &account{cfg: a, client: c}
	}

	store := newStore(rdb, cfg)
	inbox := zsync.NewInbox(rdb, zsync.InboxOptions{Logger: log, Partitions: partitions(cfg), MinReplicas: cfg.Redis.MinReplicas})
	hostname, _ := os.Hostname()
	replica := opts.Replica
	if replica == "" {
		replica = fmt.Sprintf("%s-%d", hostname, os.Getpid())
	}
	// Each inbox partition has a preferred reader among the live replicas
	// (the others stand by): reads in large batches however many replicas
	// run.
	members := coord.NewMembers(rdb, replica, coord.MembersOptions{Clock: clock, Logger: log})
	consumer := zsync.NewConsumer(rdb, store, inbox, zsync.ConsumerOptions{
		Name: replica, Clock: clock, Logger: log, Prefer: members.Prefers,
		Applied: func(b zsync.AppliedBatch) { m.inboxApplied(b, clock.Now()) },
	})
	ready := newReadiness(rdb, accounts, cfg.LDAP.Enabled())
	ids := make([]string, 0, len(accounts))
	for id := range accounts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	m.inbox.attach(inbox, ids)

	mp, err := newMapper(cfg, rdb, store, ids, replica, clock, log, m)
	if err != nil {
		return asConfigError(err)
	}

	mux := http.NewServeMux()
	secrets := newLiveAccounts(cfg.Zoom.Accounts) // what a reload of the accounts file changes
	webhook.NewHandler(webhook.HandlerOptions{
		Accounts: secrets, Sink: inbox, Clock: clock, Logger: log,
		OnRefused: func(reason string) { m.webhookRefused.WithLabelValues(reason).Inc() },
		OnOutcome: func(event, outcome string) {
			m.webhooks.WithLabelValues(webhookEventLabel(event), outcome).Inc()
			if mp != nil && outcome == webhook.OutcomeAccepted && profileEvents[event] {
				mp.markDirty()
			}
		},
	}).Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", ready.serve)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	resyncs := &resyncer{rdb: rdb, store: store, accounts: accounts, cfg: cfg, replica: replica, clock: clock, log: log, m: m,
		lease: coord.NewLease(rdb, "resync", coord.LeaseOptions{Owner: replica, Clock: clock, Logger: log})}
	defer resyncs.wg.Wait()
	if mp != nil {
		resyncs.afterRun = mp.refreshNow
	}
	lookups := &lookup{rdb: rdb, store: store, accounts: ids, clock: clock}
	guard := newAPIGuard(cfg.API.Tokens, cfg.API.RateLimit)
	auth := func(h http.HandlerFunc) http.Handler { return guard.wrap(h) }
	mux.Handle("GET /v1/presence", auth(lookups.bulk))
	mux.Handle("GET /v1/people", auth(lookups.people))
	limits := defaultHTTPLimits()
	if opts.limits != nil {
		limits = *opts.limits
	}
	slots := newStreamSlots(cfg.API.StreamMax, cfg.API.StreamMaxPerToken, m.streamsChanged)
	live := newHub(rdb, lookups, log, clock, slots, limits)
	mux.Handle("GET /v1/presence/stream", auth(live.stream))
	mux.HandleFunc("GET /board", serveBoard)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/board", http.StatusFound) })
	mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	mux.Handle("GET /v1/presence/{key}", auth(lookups.presence))
	mux.Handle("GET /v1/users/{key}", auth(lookups.user))
	mux.Handle("GET /v1/mapping/report", auth(lookups.report(mp != nil)))
	mux.Handle("GET /v1/presence/{key}/history", auth(lookups.history))
	targetsView := &targetsAPI{rdb: rdb, store: store, configs: cfg.Targets.Configs, accounts: ids, clock: clock}
	mux.Handle("GET /v1/targets", auth(targetsView.serve))
	zoomClients := map[string]*zoomapi.Client{}
	for id, a := range accounts {
		zoomClients[id] = a.client
	}
	sender, err := target.New(rdb, store, cfg.Targets.Configs, ids, target.Options{Owner: replica, Clock: clock, Logger: log, Zoom: zoomClients, Members: members,
		OnResult: func(t, result string, delay time.Duration) {
			m.pushed(t, result, delay)
			countPush(context.Background(), rdb, t, result)
		},
		OnAnswer: func(t string, took time.Duration) { m.pushDuration.WithLabelValues(t).Observe(took.Seconds()) }})
	if err != nil {
		return asConfigError(err)
	}
	m.watchOutbox(sender.Partitions)
	sweep := newSweeper(store, rdb, accounts, cfg.Presence, replica, clock, log, m)
	mux.Handle("POST /v1/resync", auth(resyncs.postResync))
	mux.Handle("GET /v1/resync/{run_id}", auth(resyncs.getResync))

	l, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("ZOOMSYNC_HTTP_ADDR %s: %w", cfg.HTTP.Addr, err)
	}
	srv := newHTTPServer(m.instrument(jsonErrors(mux)), limits)
	log.Info("zoomsync serving", slog.String("addr", l.Addr().String()), slog.Any("config", cfg))
	if opts.Listening != nil {
		opts.Listening(l.Addr().String())
	}

	// Workers stop after the HTTP server has drained.
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	resyncs.runCtx = workCtx // API-started runs stop (and release the lease) with serve
	var workers conc.WaitGroup
	workers.Go(func() { _ = inbox.Run(workCtx) })
	workers.Go(func() { members.Run(workCtx) })
	for id := range accounts {
		for n := range inbox.Partitions() {
			workers.Go(func() { _ = consumer.Run(workCtx, id, n) })
		}
	}
	for _, a := range accounts {
		workers.Go(func() {
			ready.firstPull(workCtx, rdb, store, a, clock, log, m)
			if mp != nil {
				mp.markDirty() // link the users the pull brought
			}
		})
	}
	if mp != nil {
		workers.Go(func() { mp.run(workCtx) })
	}
	workers.Go(func() { sender.Run(workCtx) })
	workers.Go(func() { live.run(workCtx) })
	workers.Go(func() { sweep.run(workCtx) })
	reload := &reloader{path: cfg.Zoom.AccountsFile, read: cfg.Zoom.ReloadAccounts, live: secrets, clients: zoomClients,
		clock: clock, log: log, every: accountsPoll}
	workers.Go(func() { reload.run(workCtx, opts.Reload) })
	if cfg.Resync.Enabled() {
		sched := &scheduler{schedule: cfg.Resync.Schedule, clock: clock, logger: log, start: resyncs.scheduled}
		workers.Go(func() { sched.run(workCtx) })
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	select {
	case err := <-serveErr:
		stopWork()
		workers.Wait()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: no new connections; finishing in-flight webhooks")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("in-flight requests did not finish in time", slog.String("error", err.Error()))
	}
	stopWork()
	workers.Wait()
	// Entries this replica read but did not acknowledge go to the others
	// now rather than after their 10 s claim idle time.
	handCtx, handDone := context.WithTimeout(context.Background(), 5*time.Second)
	handed := 0
	for _, id := range ids {
		for n := range inbox.Partitions() {
			k, err := consumer.HandBack(handCtx, id, n)
			if err != nil {
				log.Warn("could not hand back unacknowledged inbox entries; others claim them after 10 s", slog.String("error", err.Error()))
				break
			}
			handed += k
		}
	}
	handDone()
	log.Info("stopped", slog.Int("inbox_entries_handed_back", handed))
	return nil
}

// profileEvents change what a link is computed from.
var profileEvents = map[string]bool{"user.created": true, "user.updated": true, "user.activated": true,
	"user.deactivated": true, "user.deleted": true, "user.disassociated": true, "user.invitation_accepted": true}

// newMapper builds the mapper when a directory is configured (nil
// otherwise).
func newMapper(cfg *config.Config, rdb redis.UniversalClient, store *zsync.Store, accounts []string, replica string,
	clock clockwork.Clock, log *slog.Logger, m *metrics) (*mapper, error) {
	if !cfg.LDAP.Enabled() {
		return nil, nil
	}
	l := cfg.LDAP
	dir, err := directory.New(directory.Config{URL: l.URL, StartTLS: l.StartTLS, CAFile: l.CAFile, InsecureSkipVerify: l.InsecureSkipVerify,
		BindDN: l.BindDN, BindPassword: l.BindPassword, BaseDN: l.BaseDN, UserFilter: l.UserFilter, GroupDN: l.GroupDN, PageSize: l.PageSize},
		directory.Options{Logger: log, Clock: clock})
	if err != nil {
		return nil, err
	}
	rules := make([]mapping.Rule, len(cfg.Mapping.Rules))
	for i, r := range cfg.Mapping.Rules {
		rules[i] = mapping.Rule{ZoomField: r.ZoomField, Attribute: r.LDAPAttribute}
	}
	return &mapper{rdb: rdb, store: store, dir: dir, rules: rules, accounts: accounts, clock: clock, log: log, m: m,
		lease:   coord.NewLease(rdb, "mapping", coord.LeaseOptions{Owner: replica, Clock: clock, Logger: log}),
		maxDrop: cfg.Resync.MaxDeleteFraction, every: l.Refresh, debounce: 2 * time.Second,
		dirty: make(chan struct{}, 1), refresh: make(chan struct{}, 1)}, nil
}

// readiness tracks what /readyz reports.
type readiness struct {
	rdb      redis.UniversalClient
	accounts map[string]*account
	mapping  bool // a directory is configured: wait for the first complete mapping too
	mu       sync.Mutex
	pulled   map[string]bool
	mapped   bool
}

func newReadiness(rdb redis.UniversalClient, accounts map[string]*account, mapping bool) *readiness {
	return &readiness{rdb: rdb, accounts: accounts, mapping: mapping, pulled: map[string]bool{}}
}

// firstPull makes sure the account has a complete pull: one recorded in
// Redis by any replica counts; otherwise it pulls, retrying with backoff.
func (r *readiness) firstPull(ctx context.Context, rdb redis.UniversalClient, store *zsync.Store, a *account,
	clock clockwork.Clock, log *slog.Logger, m *metrics) {
	backoff := time.Second
	for ctx.Err() == nil {
		if last, err := zsync.LastCompletePull(ctx, rdb, a.cfg.ID); err == nil && !last.IsZero() {
			r.mu.Lock()
			r.pulled[a.cfg.ID] = true
			r.mu.Unlock()
			return
		}
		sum, err := zsync.NewPuller(rdb, store, a.client, clock, log).Pull(ctx)
		m.pullSeconds.WithLabelValues(a.cfg.ID).Observe(sum.Duration.Seconds())
		if err == nil {
			m.pulls.WithLabelValues(a.cfg.ID, "complete").Inc()
			continue // recorded: the next round marks it ready
		}
		m.pulls.WithLabelValues(a.cfg.ID, "failed").Inc()
		log.Error("first full pull failed; retrying", slog.String("account_id", a.cfg.ID),
			slog.String("error", err.Error()), slog.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
		case <-clock.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

func (r *readiness) serve(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "redis does not answer"})
		return
	}
	r.mu.Lock()
	var waiting []string
	for id := range r.accounts {
		if !r.pulled[id] {
			waiting = append(waiting, id)
		}
	}
	r.mu.Unlock()
	if len(waiting) > 0 {
		slices.Sort(waiting)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready",
			"reason": "first full pull not complete", "accounts": waiting})
		return
	}
	if r.mapping && !r.isMapped() {
		// Any replica's complete mapping counts (the mapping runs on one).
		done, err := zsync.MappingComplete(ctx, r.rdb)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "redis does not answer"})
			return
		}
		if !done {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "first directory mapping not complete"})
			return
		}
		r.mu.Lock()
		r.mapped = true
		r.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (r *readiness) isMapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mapped
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
