package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// Run statuses.
const (
	runQueued    = "queued"
	runRunning   = "running"
	runSucceeded = "succeeded"
	runFailed    = "failed"
	runSkipped   = "skipped" // another replica's resync held the lease
)

// runRecord is what GET /v1/resync/{run_id} shows; it lives in Redis so
// any replica can answer for a run another one executes.
type runRecord struct {
	RunID    string          `json:"run_id"`
	Trigger  string          `json:"trigger"` // api or schedule
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

func runKey(id string) string { return "zs:{runs}:" + id }

// resyncer runs full resyncs of every account, one at a time across
// replicas (the lease), and records each run.
type resyncer struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	accounts map[string]*account
	cfg      *config.Config
	lease    *zsync.Lease
	replica  string
	clock    clockwork.Clock
	log      *slog.Logger
	m        *metrics
	wg       sync.WaitGroup
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
	b, _ := json.Marshal(rec)
	return r.rdb.Set(ctx, runKey(rec.RunID), b, runTTL).Err()
}

func (r *resyncer) load(ctx context.Context, id string) (*runRecord, error) {
	b, err := r.rdb.Get(ctx, runKey(id)).Bytes()
	if err != nil {
		return nil, err
	}
	var rec runRecord
	return &rec, json.Unmarshal(b, &rec)
}

// start records a queued run and executes it in the background.
func (r *resyncer) start(ctx context.Context, trigger string) (*runRecord, error) {
	rec := &runRecord{RunID: newRunID(), Trigger: trigger, Status: runQueued, Created: r.clock.Now().UTC(), Accounts: []accountResult{}}
	if err := r.save(ctx, rec); err != nil {
		return nil, err
	}
	answer := *rec // the run goroutine changes rec; the caller gets the queued state
	answer.Accounts = []accountResult{}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_ = r.execute(context.WithoutCancel(ctx), rec)
	}()
	return &answer, nil
}

// execute runs rec under the lease; a run that cannot get it is skipped.
func (r *resyncer) execute(ctx context.Context, rec *runRecord) error {
	ran, err := r.lease.Hold(ctx, func(ctx context.Context, f zsync.Fence) error {
		now := r.clock.Now().UTC()
		rec.Status, rec.Started, rec.Replica = runRunning, &now, r.replica
		_ = r.save(ctx, rec)
		return r.all(ctx, rec, func(ctx context.Context) error { return r.lease.Check(ctx, f) })
	})
	if ran && r.afterRun != nil {
		r.afterRun()
	}
	done := r.clock.Now().UTC()
	rec.Finished = &done
	switch {
	case !ran && err == nil:
		rec.Status, rec.Error = runSkipped, "another resync was running (its replica holds the lease)"
	case err != nil:
		rec.Status, rec.Error = runFailed, err.Error()
	default:
		rec.Status = runSucceeded
	}
	if serr := r.save(context.WithoutCancel(ctx), rec); serr != nil {
		r.log.Error("could not record the resync run", slog.String("run_id", rec.RunID), slog.String("error", serr.Error()))
	}
	return err
}

// all resyncs every account, recording progress and results in rec.
func (r *resyncer) all(ctx context.Context, rec *runRecord, beforeDelete func(context.Context) error) error {
	var errs []error
	for _, a := range r.accounts {
		i := len(rec.Accounts)
		rec.Accounts = append(rec.Accounts, accountResult{AccountID: a.cfg.ID})
		lastSave := r.clock.Now()
		rep, err := zsync.NewPuller(r.rdb, r.store, a.client, r.clock, r.log).Resync(ctx, zsync.ResyncOptions{
			MaxDeleteFraction: r.cfg.Resync.MaxDeleteFraction, BeforeDelete: beforeDelete,
			Progress: func(_ string, seen int) {
				rec.Accounts[i].Seen = seen
				if r.clock.Since(lastSave) > time.Second {
					lastSave = r.clock.Now()
					_ = r.save(ctx, rec)
				}
			}})
		res := accountResult{AccountID: a.cfg.ID, Seen: rep.Seen, Created: rep.Created, Updated: rep.Updated,
			Deactivated: rep.Deactivated, Deleted: rep.Deleted, Skipped: rep.Skipped, Complete: rep.Complete,
			DurationMS: rep.Duration.Milliseconds(), Refused: rep.Refused, Summary: rep.Summary()}
		result := "complete"
		if err != nil {
			res.Error, result = err.Error(), "failed"
			errs = append(errs, err)
		}
		rec.Accounts[i] = res
		r.m.pulls.WithLabelValues(a.cfg.ID, result).Inc()
		r.m.pullSeconds.WithLabelValues(a.cfg.ID).Observe(rep.Duration.Seconds())
		r.log.Info("resync summary", slog.String("run_id", rec.RunID), slog.String("summary", rep.Summary()))
		_ = r.save(ctx, rec)
	}
	return errors.Join(errs...)
}
