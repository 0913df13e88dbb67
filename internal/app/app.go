package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/periodic"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapper"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/readmodel"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/sync/runs"
	"github.com/zoomsync/zoomsync/sync/sweep"
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
	// AdminListening, if set, receives ZOOMSYNC_ADMIN_ADDR's bound address
	// (Listening's when one listener serves everything).
	AdminListening func(addr string)
	// Replica names this process among those sharing Redis (consumer name,
	// lease owner); default host-pid.
	Replica string
	// Reload, if set, re-reads the accounts file on every value (the
	// command line sends one per SIGHUP).
	Reload <-chan struct{}

	// limits overrides the HTTP server's limits (tests); nil: the defaults.
	limits *helpdesk.Limits
	// webSocketLeaseTTL overrides the WebSocket subscriptions' lease TTL
	// (tests); 0: webSocketLeaseTTL.
	webSocketLeaseTTL time.Duration
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
	wsm := m.ws // also counts webhooks by intake

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
	ids := slices.Sorted(maps.Keys(accounts))
	m.inbox.attach(inbox, ids)

	mp, err := newMapper(cfg, rdb, store, ids, replica, clock, log, m)
	if err != nil {
		return asConfigError(err)
	}

	// Workers stop after the HTTP server has drained.
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()

	mux := newRoutes(cfg.HTTP)                    // webhooks public, the rest on the admin listener (listeners.go)
	mux.instrument = m.instrument                 // request histograms by route pattern and code (httpmetrics.go)
	secrets := newLiveAccounts(cfg.Zoom.Accounts) // what a reload of the accounts file changes
	webhook.NewHandler(webhook.HandlerOptions{
		Accounts: secrets, Sink: inbox, Clock: clock, Logger: log,
		OnRefused: func(reason string) { m.webhookRefused.WithLabelValues(reason).Inc() },
		OnOutcome: func(event, outcome string) {
			m.webhooks.WithLabelValues(webhookEventLabel(event), outcome).Inc()
			wsm.events.WithLabelValues(webhook.IntakeWebhook, webhookEventLabel(event), outcome).Inc()
			if mp != nil && outcome == webhook.OutcomeAccepted && webhook.ChangesProfile(event) {
				mp.MarkDirty()
			}
		},
	}).Register(mux.public)
	mux.health("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		helpdesk.WriteJSON(w, 200, map[string]string{"status": "ok"})
	})
	mux.health("GET /readyz", ready.serve)
	mux.admin.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	zoomClients := map[string]*zoomapi.Client{}
	for id, a := range accounts {
		zoomClients[id] = a.client
	}
	var afterResync func()
	if mp != nil {
		afterResync = mp.RefreshNow // a resync's users are linked against a fresh read
	}
	resyncs := runs.New(rdb, store, runs.Options{Accounts: zoomClients, MaxDeleteFraction: cfg.Resync.MaxDeleteFraction,
		Lease: coord.NewLease(rdb, runs.LeaseName, coord.LeaseOptions{Owner: replica, Clock: clock, Logger: log}), Replica: replica,
		RunContext: workCtx, // API-started runs stop (and release the lease) with serve
		AfterRun:   afterResync, Clock: clock, Logger: log, Observer: m})
	defer resyncs.Wait()
	limits := helpdesk.DefaultLimits()
	if opts.limits != nil {
		limits = *opts.limits
	}
	users := readmodel.New(rdb, store, readmodel.Options{Accounts: ids, Clock: clock, Logger: log, Observer: readModelObserver{m.readModel, log}})
	m.readModel.watch(users.Len)
	ready.model, ready.modelMapping = users.Ready, users.MappingVersion
	api := helpdesk.New(rdb, store, helpdesk.Options{Model: users, Accounts: ids, Tokens: cfg.API.Tokens, RateLimit: cfg.API.RateLimit,
		StreamMax: cfg.API.StreamMax, StreamMaxPerToken: cfg.API.StreamMaxPerToken, Limits: limits, Targets: cfg.Targets.Configs,
		Mapping: mp != nil, Resyncs: resyncs, Clock: clock, Logger: log, Observer: m})
	api.Register(mux.admin)
	// Push results are counted for GET /v1/targets in batches, not with a
	// Redis round trip per push (PushCounts).
	pushCounts := helpdesk.NewPushCounts(rdb, clock, log)
	sender, err := target.New(rdb, store, cfg.Targets.Configs, ids, target.Options{Owner: replica, Clock: clock, Logger: log, Zoom: zoomClients, Members: members,
		OnAuthFailure: func(t string) { m.targetAuth.WithLabelValues(t).Inc() },
		OnResult: func(t, result string, delay time.Duration) {
			m.pushed(t, result, delay)
			pushCounts.Add(t, result)
		},
		OnAnswer: func(t string, took time.Duration) { m.pushDuration.WithLabelValues(t).Observe(took.Seconds()) }})
	if err != nil {
		return asConfigError(err)
	}
	m.watchOutbox(sender.Partitions)
	readers := map[string]sweep.PresenceReader{}
	for id, a := range accounts {
		readers[id] = a.client.Users
	}
	sweeper := sweep.New(rdb, store, readers, sweep.Options{MaxAge: cfg.Presence.MaxAge, ReadsPerSecond: cfg.Presence.ReadsPerSecond,
		CallMax: cfg.Presence.CallMax, Replica: replica, Clock: clock, Logger: log, Observer: m})
	// The leader-only periodic work: each job under its lease, one
	// replica at a time.
	jobs := periodic.New(periodic.Options{Clock: clock, Logger: log, Observer: m.jobs})
	jobs.Add(sweeper.Specs()...)
	if mp != nil {
		jobs.Add(mp.Specs()...)
	}
	if cfg.Resync.Enabled() {
		jobs.Add(resyncs.ScheduleSpec(cfg.Resync.Schedule))
	}
	sockets, err := newWebSockets(webSocketOptions{cfg: cfg, rdb: rdb, store: store, sink: inbox, accounts: accounts, replica: replica,
		clock: clock, log: log, wm: wsm, leaseTTL: opts.webSocketLeaseTTL, accepted: func(event string) {
			if mp != nil && webhook.ChangesProfile(event) {
				mp.MarkDirty()
			}
		}})
	if err != nil {
		return err
	}
	if sockets != nil {
		ready.sockets = sockets.status
	}

	srv, err := listen(cfg, mux, limits, log, opts)
	if err != nil {
		return err
	}

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
				mp.MarkDirty() // link the users the pull brought
			}
		})
	}
	workers.Go(func() { jobs.Run(workCtx) })
	workers.Go(func() { sender.Run(workCtx) })
	countCtx, stopCounts := context.WithCancel(context.Background()) // stops after the sender's last push
	countsDone := make(chan struct{})
	go func() { defer close(countsDone); pushCounts.Run(countCtx) }()
	defer func() { stopCounts(); <-countsDone }()
	workers.Go(func() { users.Run(workCtx) })
	workers.Go(func() { api.Run(workCtx) })
	if sockets != nil {
		workers.Go(func() { sockets.run(workCtx) })
	}
	reload := &reloader{path: cfg.Zoom.AccountsFile, read: cfg.Zoom.ReloadAccounts, live: secrets, clients: zoomClients,
		clock: clock, log: log, every: accountsPoll}
	workers.Go(func() { reload.run(workCtx, opts.Reload) })

	serveErr := make(chan error, 1)
	srv.serve(serveErr)
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
	if err := srv.shutdown(shutdownCtx); err != nil {
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

// newMapper builds the mapper when a directory is configured (nil
// otherwise).
func newMapper(cfg *config.Config, rdb redis.UniversalClient, store *zsync.Store, accounts []string, replica string,
	clock clockwork.Clock, log *slog.Logger, m *metrics) (*mapper.Mapper, error) {
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
	return mapper.New(rdb, store, dir, mapper.Options{Rules: rules, Accounts: accounts, MaxDrop: cfg.Resync.MaxDeleteFraction,
		Every: l.Refresh, Lease: coord.NewLease(rdb, mapper.LeaseName, coord.LeaseOptions{Owner: replica, Clock: clock, Logger: log}),
		Clock: clock, Logger: log, Observer: m}), nil
}

// newHTTPServer is serve's HTTP server with the limits applied.
func newHTTPServer(h http.Handler, l helpdesk.Limits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
}
