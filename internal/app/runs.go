package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/errs"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// Run statuses.
const (
	runQueued    = "queued" // recorded, its lease not taken yet (for one round trip)
	runRunning   = "running"
	runSucceeded = "succeeded"
	runFailed    = "failed"
)

// Run triggers: what started a run.
const (
	triggerAPI      = "api"      // POST /v1/resync
	triggerSchedule = "schedule" // ZOOMSYNC_RESYNC_SCHEDULE, inside serve
	triggerCLI      = "cli"      // zoomsync resync (the CronJob)
)

// runRecord is what GET /v1/resync/{run_id} shows; it lives in Redis so
// any replica can answer for a run another one executes.
type runRecord struct {
	RunID    string          `json:"run_id"`
	Trigger  string          `json:"trigger"` // api, schedule or cli
	Status   string          `json:"status"`
	Replica  string          `json:"replica,omitempty"`
	Created  time.Time       `json:"created"`
	Started  *time.Time      `json:"started,omitempty"`
	Finished *time.Time      `json:"finished,omitempty"`
	Error    string          `json:"error,omitempty"`
	Accounts []accountResult `json:"accounts"`
}

type accountResult struct {
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

const runTTL = 30 * 24 * time.Hour

// queuedRunTTL bounds the record of a run that never got the lease: a
// process that stopped between recording it and taking the lease leaves
// nothing behind for long.
const queuedRunTTL = time.Minute

// leasePoll is how often a waiting `zoomsync resync --wait` looks at the
// lease again.
const leasePoll = 2 * time.Second

func runKey(id string) string { return "zs:{runs}:" + id }

// runOwner is the resync lease's owner for one run: the run id and the
// replica, so that whoever finds the lease taken can name the run.
func runOwner(runID, replica string) string { return runID + "@" + replica }

// parseRunOwner splits runOwner's value; an owner without a run id (a
// replica of an older version holds the lease) yields only the replica.
func parseRunOwner(owner string) (runID, replica string) {
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

// resyncer runs full resyncs of every account, one at a time across
// replicas and processes (the lease), and records each run.
type resyncer struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	accounts map[string]*account
	cfg      *config.Config
	// lease is the resync lease acting for this replica; each run takes it
	// under its own owner (runOwner).
	lease   *coord.Lease
	replica string
	clock   clockwork.Clock
	log     *slog.Logger
	m       *metrics
	wg      sync.WaitGroup
	// runCtx, if set, is what API-started runs run under (serve's work
	// context: they stop, and release the lease, when serve stops);
	// otherwise they outlive the request that started them.
	runCtx context.Context
	// afterRun, if set, is called after every run that held the lease (the
	// mapper reads the directory again).
	afterRun func()
}

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *resyncer) save(ctx context.Context, rec *runRecord) error {
	return r.saveFor(ctx, rec, runTTL)
}

func (r *resyncer) saveFor(ctx context.Context, rec *runRecord, ttl time.Duration) error {
	b, _ := json.Marshal(rec)
	return r.rdb.Set(ctx, runKey(rec.RunID), b, ttl).Err()
}

func (r *resyncer) load(ctx context.Context, id string) (*runRecord, error) {
	b, err := r.rdb.Get(ctx, runKey(id)).Bytes()
	if err != nil {
		return nil, err
	}
	var rec runRecord
	return &rec, json.Unmarshal(b, &rec)
}

// activeRun is a run that holds the resync lease.
type activeRun struct {
	rec   *runRecord
	lease *coord.Lease
	fence coord.Fence
}

// begin records a new run and takes the lease for it, or returns a
// *RunningError naming the run that holds it. The lease is one SET NX, so
// of two callers (two replicas, or a replica and a CronJob) exactly one
// gets it.
func (r *resyncer) begin(ctx context.Context, trigger string) (*activeRun, error) {
	for attempt := 1; ; attempt++ {
		rec := &runRecord{RunID: newRunID(), Trigger: trigger, Status: runQueued, Created: r.clock.Now().UTC(), Accounts: []accountResult{}}
		// The record exists before the lease names the run, so whoever
		// finds the lease taken can always read the run it names.
		if err := r.saveFor(ctx, rec, queuedRunTTL); err != nil {
			return nil, err
		}
		lease := r.lease.WithOwner(runOwner(rec.RunID, r.replica))
		f, ok, err := lease.TryAcquire(ctx)
		if ok {
			now := r.clock.Now().UTC()
			rec.Status, rec.Started, rec.Replica = runRunning, &now, r.replica
			if err := r.save(ctx, rec); err != nil {
				_ = lease.Release(context.WithoutCancel(ctx), f)
				return nil, err
			}
			return &activeRun{rec: rec, lease: lease, fence: f}, nil
		}
		_ = r.rdb.Del(context.WithoutCancel(ctx), runKey(rec.RunID)).Err() // else it expires in queuedRunTTL
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
func (r *resyncer) running(ctx context.Context) (*RunningError, error) {
	h, err := r.lease.Holder(ctx)
	if err != nil || h.Owner == "" {
		return nil, err
	}
	e := &RunningError{}
	e.RunID, e.Replica = parseRunOwner(h.Owner)
	if e.RunID != "" {
		if rec, err := r.load(ctx, e.RunID); err == nil {
			e.Trigger, e.Started = rec.Trigger, rec.Started
		}
	}
	return e, nil
}

// beginWaiting is begin that, while another run holds the lease, looks
// again every leasePoll for up to wait before returning its
// *RunningError.
func (r *resyncer) beginWaiting(ctx context.Context, trigger string, wait time.Duration) (*activeRun, error) {
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
			case <-r.clock.After(min(leasePoll, wait-waited)):
			}
			if held, err = r.running(ctx); err != nil {
				return nil, err
			}
		}
	}
}

// runOptions shape one run.
type runOptions struct {
	dryRun       bool // decide, write nothing, record nothing
	beforeDelete func(context.Context) error
	// progress, if set, is called after every page (ResyncOptions.Progress).
	progress func(account string, seen, total int)
	// report, if set, is called after each account with its result.
	report func(rep zsync.ResyncReport, err error)
	// then, if set, runs after the accounts, still under the lease (the
	// resync command reads the directory).
	then func(context.Context) error
}

// start begins a run and executes it in the background; the answer is the
// run as recorded when it took the lease. Another run holding the lease
// is a *RunningError.
func (r *resyncer) start(ctx context.Context, trigger string) (*runRecord, error) {
	run, err := r.begin(ctx, trigger)
	if err != nil {
		return nil, err
	}
	answer := *run.rec // the run goroutine changes rec
	answer.Accounts = []accountResult{}
	base := r.runCtx
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = r.execute(base, run, runOptions{})
	}()
	return &answer, nil
}

// scheduled runs one scheduled resync and returns when it ends; when
// another run holds the lease, this tick is left to it.
func (r *resyncer) scheduled(ctx context.Context) error {
	run, err := r.begin(ctx, triggerSchedule)
	var held *RunningError
	if errors.As(err, &held) {
		r.log.Info("scheduled resync skipped: another one is running", slog.String("running", held.Error()))
		return nil
	}
	if err != nil {
		return err
	}
	return r.execute(ctx, run, runOptions{})
}

// execute resyncs every account for run, keeping its lease (renewed,
// released at the end, also when ctx ends) and recording the outcome.
func (r *resyncer) execute(ctx context.Context, run *activeRun, o runOptions) error {
	err := run.lease.Keep(ctx, run.fence, func(ctx context.Context, f coord.Fence) error {
		o.beforeDelete = func(ctx context.Context) error { return run.lease.Check(ctx, f) }
		err := r.all(ctx, run.rec, o)
		if o.then != nil {
			err = errors.Join(err, o.then(ctx))
		}
		return err
	})
	if r.afterRun != nil {
		r.afterRun()
	}
	rec := run.rec
	done := r.clock.Now().UTC()
	rec.Finished = &done
	switch {
	case err == nil:
		rec.Status = runSucceeded
	case ctx.Err() != nil:
		rec.Status, rec.Error = runFailed, "interrupted: the process running it stopped before it finished ("+err.Error()+")"
	default:
		rec.Status, rec.Error = runFailed, err.Error()
	}
	if serr := r.save(context.WithoutCancel(ctx), rec); serr != nil {
		r.log.Error("could not record the resync run", slog.String("run_id", rec.RunID), slog.String("error", serr.Error()))
	}
	return err
}

// all resyncs every account (in account id order), recording progress
// and results in rec.
func (r *resyncer) all(ctx context.Context, rec *runRecord, o runOptions) error {
	save := func() {
		if !o.dryRun {
			_ = r.save(ctx, rec)
		}
	}
	ids := make([]string, 0, len(r.accounts))
	for id := range r.accounts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var failed []error
	for _, id := range ids {
		a := r.accounts[id]
		i := len(rec.Accounts)
		rec.Accounts = append(rec.Accounts, accountResult{AccountID: a.cfg.ID})
		lastSave := r.clock.Now()
		rep, err := zsync.NewPuller(r.rdb, r.store, a.client, r.clock, r.log).Resync(ctx, zsync.ResyncOptions{
			MaxDeleteFraction: r.cfg.Resync.MaxDeleteFraction, DryRun: o.dryRun, BeforeDelete: o.beforeDelete,
			Progress: func(account string, seen, total int) {
				rec.Accounts[i].Seen = seen
				if o.progress != nil {
					o.progress(account, seen, total)
				}
				if r.clock.Since(lastSave) > time.Second {
					lastSave = r.clock.Now()
					save()
				}
			}})
		res := accountResult{AccountID: a.cfg.ID, Seen: rep.Seen, Created: rep.Created, Updated: rep.Updated,
			Deactivated: rep.Deactivated, Deleted: rep.Deleted, Skipped: rep.Skipped, Complete: rep.Complete,
			DurationMS: rep.Duration.Milliseconds(), Refused: rep.Refused, Summary: rep.Summary()}
		result := "complete"
		if err != nil {
			res.Error, result = err.Error(), "failed"
			failed = append(failed, err)
		}
		rec.Accounts[i] = res
		if !o.dryRun {
			r.m.pulls.WithLabelValues(a.cfg.ID, result).Inc()
			r.m.pullSeconds.WithLabelValues(a.cfg.ID).Observe(rep.Duration.Seconds())
		}
		r.log.Info("resync summary", slog.String("run_id", rec.RunID), slog.String("summary", rep.Summary()))
		if o.report != nil {
			o.report(rep, err)
		}
		save()
	}
	return errors.Join(failed...)
}

// writeRunning answers POST /v1/resync while another run holds the lease:
// 409 resync_running, naming that run (GET /v1/resync/{run_id} shows it).
func writeRunning(w http.ResponseWriter, held *RunningError) {
	body := map[string]any{"code": "resync_running", "message": held.Error()}
	if held.RunID != "" {
		body["run_id"] = held.RunID
	}
	writeJSON(w, http.StatusConflict, map[string]any{"error": body})
}
