package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/mapping/mapper"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/sync/runs"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// errEmbeddedRedis refuses one-shot commands that would work on a Redis
// thrown away at exit.
var errEmbeddedRedis = errors.New("needs ZOOMSYNC_REDIS_URL (or ZOOMSYNC_REDIS_ADDRS): an embedded Redis would be thrown away when the command exits")

// RunningError says that another resync holds the lease (runs).
type RunningError = runs.RunningError

// ResyncOptions are the resync command's flags.
type ResyncOptions struct {
	Account string // empty: every account
	DryRun  bool
	// Wait is how long to wait for a resync another process is running
	// (the schedule, POST /v1/resync, another Job) before giving up with a
	// *RunningError; 0 gives up at once. A dry run does not wait: it
	// writes nothing, so it does not take the lease.
	Wait   time.Duration
	Stdout io.Writer // summaries
	Logger *slog.Logger
	// Progress, if set, is called after every page of an account's pull
	// with the users listed so far and the total Zoom reports (see
	// zsync.ResyncOptions.Progress); the command line draws it on a
	// terminal.
	Progress func(account string, seen, total int)
	// Clock and Replica are for tests: the clock the lease and the run
	// record use (nil: real time) and this process's name in them
	// (default host-pid).
	Clock   clockwork.Clock
	Replica string
}

// Resync runs `zoomsync resync`: one complete pull and reconcile per
// account under the resync lease (so never beside a scheduled or
// API-started run, nor another Job), recorded like those runs, a summary
// line each, and an error if any account failed or had its deletions
// refused. When another run holds the lease it waits up to opts.Wait,
// then returns a *RunningError naming that run.
func Resync(ctx context.Context, cfg *config.Config, opts ResyncOptions) error {
	if cfg.Redis.Embedded() {
		return configErrorf("zoomsync resync: %w", errEmbeddedRedis)
	}
	selected := cfg.Zoom.Accounts
	if opts.Account != "" {
		selected = nil
		for _, a := range cfg.Zoom.Accounts {
			if a.ID == opts.Account {
				selected = append(selected, a)
			}
		}
		if len(selected) == 0 {
			return configErrorf("zoomsync resync: account %q is not configured (%s)", opts.Account, accountList(cfg))
		}
	}
	if len(selected) == 0 {
		return configErrorf("zoomsync resync: no Zoom account configured (set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET, or ZOOMSYNC_ACCOUNTS_FILE)")
	}
	log, clock, replica := opts.Logger, opts.Clock, opts.Replica
	if log == nil {
		log = discard()
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if replica == "" {
		hostname, _ := os.Hostname()
		replica = fmt.Sprintf("%s-%d", hostname, os.Getpid())
	}
	rdb, closeRedis, err := openRedis(ctx, cfg.Redis, log, 0)
	if err != nil {
		return err
	}
	defer closeRedis()
	store := newStore(rdb, cfg)
	clients := map[string]*zoomapi.Client{}
	for _, a := range selected {
		c, err := zoomapi.NewClient(a.Credentials(), zoomapi.WithBaseURL(cfg.Zoom.APIBaseURLFor(a)), zoomapi.WithTokenURL(cfg.Zoom.TokenURL),
			zoomapi.WithRateLimits(cfg.Zoom.RateLimits), zoomapi.WithLogger(log))
		if err != nil {
			return asConfigError(err)
		}
		clients[a.ID] = c
	}
	r := runs.New(rdb, store, runs.Options{Accounts: clients, MaxDeleteFraction: cfg.Resync.MaxDeleteFraction,
		Lease: coord.NewLease(rdb, runs.LeaseName, coord.LeaseOptions{Owner: replica, Clock: clock, Logger: log}), Replica: replica,
		Clock: clock, Logger: log, Observer: newMetrics()})

	var failed []string
	var reports []zsync.ResyncReport
	var mapped *mapper.Summary // this run's mapping, when it refreshed the links
	started := clock.Now()
	o := runs.RunOptions{Progress: opts.Progress, Report: func(rep zsync.ResyncReport, err error) {
		reports = append(reports, rep)
		line := rep.Summary()
		if opts.DryRun {
			line = "dry run: " + line
		}
		fmt.Fprintln(opts.Stdout, line)
		for _, e := range rep.Errors {
			fmt.Fprintln(opts.Stdout, "  warning:", e)
		}
		if err != nil {
			failed = append(failed, resyncFailure(rep, err, cfg.Resync.MaxDeleteFraction, opts.Account != ""))
		}
	}}
	if opts.DryRun {
		// Reads and decides only: no lease, no record.
		_ = r.DryRun(ctx, o)
	} else {
		run, err := r.BeginWaiting(ctx, runs.TriggerCLI, opts.Wait)
		if err != nil {
			return fmt.Errorf("zoomsync resync: %w", err)
		}
		fmt.Fprintf(opts.Stdout, "resync run %s (GET /v1/resync/%s)\n", run.Record.RunID, run.Record.RunID)
		if cfg.LDAP.Enabled() && opts.Account == "" {
			// The nightly run also refreshes the directory and every link.
			o.Then = func(ctx context.Context) error {
				sum, err := mapOnce(ctx, cfg, rdb, store, opts.Stdout, log)
				if sum.Result != nil {
					mapped = &sum
				}
				if err != nil {
					failed = append(failed, "directory: "+err.Error())
					return fmt.Errorf("directory: %w", err)
				}
				return nil
			}
		}
		if err := r.Execute(ctx, run, o); err != nil && len(failed) == 0 {
			failed = append(failed, err.Error()) // the lease lost, or the process stopping, between accounts
		}
	}
	fmt.Fprintln(opts.Stdout, resyncTotals(ctx, rdb, cfg, reports, mapped, opts.DryRun, clock.Since(started)))
	if len(failed) > 0 {
		return &ResyncFailed{Parts: failed}
	}
	return nil
}

// Map runs `zoomsync map`: read the directory and recompute every link
// once (after changing ZOOMSYNC_MATCH_RULES, say).
func Map(ctx context.Context, cfg *config.Config, stdout io.Writer, logger *slog.Logger) error {
	if cfg.Redis.Embedded() {
		return configErrorf("zoomsync map: %w", errEmbeddedRedis)
	}
	if !cfg.LDAP.Enabled() {
		return configErrorf("zoomsync map: no directory configured (set LDAP_URL, LDAP_BASE_DN, LDAP_BIND_DN, LDAP_BIND_PASSWORD)")
	}
	rdb, closeRedis, err := openRedis(ctx, cfg.Redis, logger, 0)
	if err != nil {
		return err
	}
	defer closeRedis()
	store := newStore(rdb, cfg)
	if _, err := mapOnce(ctx, cfg, rdb, store, stdout, logger); err != nil {
		return fmt.Errorf("zoomsync map: %w", err)
	}
	return nil
}

func mapOnce(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, store *zsync.Store, stdout io.Writer, logger *slog.Logger) (mapper.Summary, error) {
	if logger == nil {
		logger = discard()
	}
	ids := make([]string, len(cfg.Zoom.Accounts))
	for i, a := range cfg.Zoom.Accounts {
		ids[i] = a.ID
	}
	hostname, _ := os.Hostname()
	mp, err := newMapper(cfg, rdb, store, ids, fmt.Sprintf("%s-%d", hostname, os.Getpid()), clockwork.NewRealClock(), logger, newMetrics())
	if err != nil {
		return mapper.Summary{}, asConfigError(err)
	}
	sum, err := mp.Once(ctx)
	fmt.Fprintln(stdout, sum)
	return sum, err
}
