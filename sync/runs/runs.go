package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// Run statuses.
const (
	StatusQueued    = "queued" // recorded, its lease not taken yet (for one round trip)
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Run triggers: what started a run.
const (
	TriggerAPI      = "api"      // POST /v1/resync
	TriggerSchedule = "schedule" // ZOOMSYNC_RESYNC_SCHEDULE, inside serve
	TriggerCLI      = "cli"      // zoomsync resync (the CronJob)
)

// Record is what GET /v1/resync/{run_id} shows; it lives in Redis so any
// replica can answer for a run another one executes.
type Record struct {
	RunID    string          `json:"run_id"`
	Trigger  string          `json:"trigger"` // api, schedule or cli
	Status   string          `json:"status"`
	Replica  string          `json:"replica,omitempty"`
	Created  time.Time       `json:"created"`
	Started  *time.Time      `json:"started,omitempty"`
	Finished *time.Time      `json:"finished,omitempty"`
	Error    string          `json:"error,omitempty"`
	Accounts []AccountResult `json:"accounts"`
}

// AccountResult is one account's part of a run.
type AccountResult struct {
	AccountID   string `json:"account_id"`
	Seen        int    `json:"seen"`
	Created     int    `json:"created"`
	Updated     int    `json:"updated"`
	Deactivated int    `json:"deactivated"`
	Deleted     int    `json:"deleted"`
	Skipped     int    `json:"skipped"`
	Complete    bool   `json:"complete"`
	DurationMS  int64  `json:"duration_ms"`
	Refused     string `json:"deletions_refused,omitempty"`
	Error       string `json:"error,omitempty"`
	Summary     string `json:"summary"`
}

// runTTL is how long a run's record is kept.
const runTTL = 30 * 24 * time.Hour

// queuedRunTTL bounds the record of a run that never got the lease: a
// process that stopped between recording it and taking the lease leaves
// nothing behind for long.
const queuedRunTTL = time.Minute

// LeasePoll is how often a waiting `zoomsync resync --wait` looks at the
// lease again.
const LeasePoll = 2 * time.Second

// Key is the key of a run's record.
func Key(id string) string { return "zs:{runs}:" + id }

// runOwner is the resync lease's owner for one run: the run id and the
// replica, so that whoever finds the lease taken can name the run.
func runOwner(runID, replica string) string { return runID + "@" + replica }

// ParseOwner splits the resync lease's owner; an owner without a run id
// (a replica of an older version holds the lease) yields only the
// replica.
func ParseOwner(owner string) (runID, replica string) {
	id, rep, ok := strings.Cut(owner, "@")
	if !ok {
		return "", owner
	}
	return id, rep
}

// RunningError says that another resync holds the lease: the schedule,
// the API or a `zoomsync resync` of another process. Only one runs at a
// time.
type RunningError struct {
	RunID   string // "" when the holder does not name its run (an older version)
	Trigger string // api, schedule or cli, from the run's record
	Replica string // the process running it
	Started *time.Time
	Waited  time.Duration // how long this caller waited for it to end
}

func (e *RunningError) Error() string {
	var b strings.Builder
	b.WriteString("another resync is running")
	if e.RunID != "" {
		b.WriteString(": run " + e.RunID)
	}
	var about []string
	if e.Trigger != "" {
		about = append(about, "started by "+e.Trigger)
	}
	if e.Replica != "" {
		about = append(about, "on "+e.Replica)
	}
	if e.Started != nil {
		about = append(about, "at "+e.Started.UTC().Format(time.RFC3339))
	}
	if len(about) > 0 {
		b.WriteString(" (" + strings.Join(about, " ") + ")")
	}
	if e.Waited > 0 {
		fmt.Fprintf(&b, "; still running after waiting %v", e.Waited.Round(time.Second))
	}
	return b.String()
}

// ErrorKind: the same request succeeds once the other run has ended.
func (e *RunningError) ErrorKind() errs.Kind { return errs.Transient }

// Observer is told each account's pull (the process's metrics).
type Observer interface {
	// Pull: result is complete or failed.
	Pull(account, result string, took time.Duration)
}

// Options configure a Resyncer.
type Options struct {
	// Accounts are the Zoom clients of the accounts a run resyncs, by
	// account id.
	Accounts map[string]*zoomapi.Client
	// MaxDeleteFraction is ZOOMSYNC_MAX_DELETE_FRACTION.
	MaxDeleteFraction float64
	// Lease is the "resync" lease acting for this replica; each run takes
	// it under its own owner (the run id and Replica).
	Lease   *coord.Lease
	Replica string
	// RunContext, if set, is what API-started runs run under (serve's work
	// context: they stop, and release the lease, when serve stops);
	// otherwise they outlive the request that started them.
	RunContext context.Context
	// AfterRun, if set, is called after every run that held the lease (the
	// mapper reads the directory again).
	AfterRun func()
	Clock    clockwork.Clock
	Logger   *slog.Logger
	Observer Observer // nil: nobody
}

// Resyncer runs full resyncs of every account, one at a time across
// replicas and processes (the lease), and records each run.
type Resyncer struct {
	rdb   redis.UniversalClient
	store *zsync.Store
	opts  Options
	clock clockwork.Clock
	log   *slog.Logger
	wg    sync.WaitGroup
}

// New returns the resyncer of the accounts' users in store.
func New(rdb redis.UniversalClient, store *zsync.Store, opts Options) *Resyncer {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nobody{}
	}
	return &Resyncer{rdb: rdb, store: store, opts: opts, clock: opts.Clock, log: opts.Logger}
}

type nobody struct{}

func (nobody) Pull(string, string, time.Duration) {}

// Wait waits for the runs Start began.
func (r *Resyncer) Wait() { r.wg.Wait() }

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Resyncer) save(ctx context.Context, rec *Record) error {
	return r.saveFor(ctx, rec, runTTL)
}

func (r *Resyncer) saveFor(ctx context.Context, rec *Record, ttl time.Duration) error {
	b, _ := json.Marshal(rec)
	return r.rdb.Set(ctx, Key(rec.RunID), b, ttl).Err()
}

// ErrNoRun: no run has that id (runs are kept 30 days).
var ErrNoRun = errs.E("runs.Load", errs.NotFound, errors.New("no resync run with that id"))

// Load reads a run's record (ErrNoRun when there is none).
func (r *Resyncer) Load(ctx context.Context, id string) (*Record, error) {
	b, err := r.rdb.Get(ctx, Key(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoRun
	}
	if err != nil {
		return nil, redisconn.Classify("runs.Load", err)
	}
	var rec Record
	return &rec, json.Unmarshal(b, &rec)
}

// Active is a run that holds the resync lease.
type Active struct {
	Record *Record
	lease  *coord.Lease
	fence  coord.Fence
}

// begin records a new run and takes the lease for it, or returns a
// *RunningError naming the run that holds it. The lease is one SET NX, so
// of two callers (two replicas, or a replica and a CronJob) exactly one
// gets it.
func (r *Resyncer) begin(ctx context.Context, trigger string) (*Active, error) {
	for attempt := 1; ; attempt++ {
		rec := &Record{RunID: newRunID(), Trigger: trigger, Status: StatusQueued, Created: r.clock.Now().UTC(), Accounts: []AccountResult{}}
		// The record exists before the lease names the run, so whoever
		// finds the lease taken can always read the run it names.
		if err := r.saveFor(ctx, rec, queuedRunTTL); err != nil {
			return nil, err
		}
		lease := r.opts.Lease.WithOwner(runOwner(rec.RunID, r.opts.Replica))
		f, ok, err := lease.TryAcquire(ctx)
		if ok {
			now := r.clock.Now().UTC()
			rec.Status, rec.Started, rec.Replica = StatusRunning, &now, r.opts.Replica
			if err := r.save(ctx, rec); err != nil {
				_ = lease.Release(context.WithoutCancel(ctx), f)
				return nil, err
			}
			return &Active{Record: rec, lease: lease, fence: f}, nil
		}
		_ = r.rdb.Del(context.WithoutCancel(ctx), Key(rec.RunID)).Err() // else it expires in queuedRunTTL
		if err != nil {
			return nil, err
		}
		running, err := r.running(ctx)
		if err != nil {
			return nil, err
		}
		if running != nil {
			return nil, running
		}
		if attempt == 3 { // released and taken again between every two looks
			return nil, &RunningError{}
		}
	}
}

// running describes the run that holds the lease, nil when none does.
func (r *Resyncer) running(ctx context.Context) (*RunningError, error) {
	h, err := r.opts.Lease.Holder(ctx)
	if err != nil || h.Owner == "" {
		return nil, err
	}
	e := &RunningError{}
	e.RunID, e.Replica = ParseOwner(h.Owner)
	if e.RunID != "" {
		if rec, err := r.Load(ctx, e.RunID); err == nil {
			e.Trigger, e.Started = rec.Trigger, rec.Started
		}
	}
	return e, nil
}

// BeginWaiting records a new run and takes the lease for it; while
// another run holds the lease, it looks again every LeasePoll for up to
// wait before returning that run's *RunningError.
func (r *Resyncer) BeginWaiting(ctx context.Context, trigger string, wait time.Duration) (*Active, error) {
	start := r.clock.Now()
	logged := false
	for {
		run, err := r.begin(ctx, trigger)
		var held *RunningError
		if !errors.As(err, &held) {
			return run, err
		}
		for held != nil {
			waited := r.clock.Since(start)
			if waited >= wait {
				if wait > 0 {
					held.Waited = waited
				}
				return nil, held
			}
			if !logged {
				r.log.Info("another resync is running; waiting for it to end", slog.String("running", held.Error()), slog.Duration("wait", wait))
				logged = true
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("stopped while waiting: %v: %w", held, context.Cause(ctx))
			case <-r.clock.After(min(LeasePoll, wait-waited)):
			}
			if held, err = r.running(ctx); err != nil {
				return nil, err
			}
		}
	}
}

// RunOptions shape one run.
type RunOptions struct {
	dryRun       bool // decide, write nothing, record nothing
	beforeDelete func(context.Context) error
	// Progress, if set, is called after every page (ResyncOptions.Progress:
	// total is Zoom's total_records, 0 when unknown).
	Progress func(account string, seen, total int)
	// Report, if set, is called after each account with its result.
	Report func(rep zsync.ResyncReport, err error)
	// Then, if set, runs after the accounts, still under the lease (the
	// resync command reads the directory).
	Then func(context.Context) error
}

// Start begins a run and executes it in the background; the answer is
// the run as recorded when it took the lease. Another run holding the
// lease is a *RunningError.
func (r *Resyncer) Start(ctx context.Context, trigger string) (*Record, error) {
	run, err := r.begin(ctx, trigger)
	if err != nil {
		return nil, err
	}
	answer := *run.Record // the run goroutine changes the record
	answer.Accounts = []AccountResult{}
	base := r.opts.RunContext
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = r.Execute(base, run, RunOptions{})
	}()
	return &answer, nil
}

// Scheduled runs one scheduled resync and returns when it ends; when
// another run holds the lease, this tick is left to it.
func (r *Resyncer) Scheduled(ctx context.Context) error {
	_, err := r.scheduled(ctx)
	return err
}

// scheduled is Scheduled, reporting whether the tick was left to
// another run.
func (r *Resyncer) scheduled(ctx context.Context) (skipped bool, err error) {
	run, err := r.begin(ctx, TriggerSchedule)
	var held *RunningError
	if errors.As(err, &held) {
		r.log.Info("scheduled resync skipped: another one is running", slog.String("running", held.Error()))
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, r.Execute(ctx, run, RunOptions{})
}

// Execute resyncs every account for run, keeping its lease (renewed,
// released at the end, also when ctx ends) and recording the outcome.
func (r *Resyncer) Execute(ctx context.Context, run *Active, o RunOptions) error {
	err := run.lease.Keep(ctx, run.fence, func(ctx context.Context, f coord.Fence) error {
		o.beforeDelete = func(ctx context.Context) error { return run.lease.Check(ctx, f) }
		err := r.all(ctx, run.Record, o)
		if o.Then != nil {
			err = errors.Join(err, o.Then(ctx))
		}
		return err
	})
	if r.opts.AfterRun != nil {
		r.opts.AfterRun()
	}
	rec := run.Record
	done := r.clock.Now().UTC()
	rec.Finished = &done
	switch {
	case err == nil:
		rec.Status = StatusSucceeded
	case ctx.Err() != nil:
		rec.Status, rec.Error = StatusFailed, "interrupted: the process running it stopped before it finished ("+err.Error()+")"
	default:
		rec.Status, rec.Error = StatusFailed, err.Error()
	}
	if serr := r.save(context.WithoutCancel(ctx), rec); serr != nil {
		r.log.Error("could not record the resync run", slog.String("run_id", rec.RunID), slog.String("error", serr.Error()))
	}
	return err
}

// DryRun reads every account and decides what a run would do, writing
// and recording nothing, without the lease.
func (r *Resyncer) DryRun(ctx context.Context, o RunOptions) error {
	o.dryRun = true
	return r.all(ctx, &Record{Accounts: []AccountResult{}}, o)
}

// all resyncs every account (in account id order), recording progress
// and results in rec.
func (r *Resyncer) all(ctx context.Context, rec *Record, o RunOptions) error {
	save := func() {
		if !o.dryRun {
			_ = r.save(ctx, rec)
		}
	}
	ids := slices.Sorted(maps.Keys(r.opts.Accounts))
	var failed []error
	for _, id := range ids {
		i := len(rec.Accounts)
		rec.Accounts = append(rec.Accounts, AccountResult{AccountID: id})
		lastSave := r.clock.Now()
		rep, err := zsync.NewPuller(r.rdb, r.store, r.opts.Accounts[id], r.clock, r.log).Resync(ctx, zsync.ResyncOptions{
			MaxDeleteFraction: r.opts.MaxDeleteFraction, DryRun: o.dryRun, BeforeDelete: o.beforeDelete,
			Progress: func(account string, seen, total int) {
				rec.Accounts[i].Seen = seen
				if o.Progress != nil {
					o.Progress(account, seen, total)
				}
				if r.clock.Since(lastSave) > time.Second {
					lastSave = r.clock.Now()
					save()
				}
			}})
		res := AccountResult{AccountID: id, Seen: rep.Seen, Created: rep.Created, Updated: rep.Updated,
			Deactivated: rep.Deactivated, Deleted: rep.Deleted, Skipped: rep.Skipped, Complete: rep.Complete,
			DurationMS: rep.Duration.Milliseconds(), Refused: rep.Refused, Summary: rep.Summary()}
		result := "complete"
		if err != nil {
			res.Error, result = err.Error(), "failed"
			failed = append(failed, err)
		}
		rec.Accounts[i] = res
		if !o.dryRun {
			r.opts.Observer.Pull(id, result, rep.Duration)
		}
		r.log.Info("resync summary", slog.String("run_id", rec.RunID), slog.String("summary", rep.Summary()))
		if o.Report != nil {
			o.Report(rep, err)
		}
		save()
	}
	return errors.Join(failed...)
}
