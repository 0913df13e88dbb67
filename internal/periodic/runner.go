package periodic

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/coord"
)

// Job does one piece of leader-only work once. f is the lease's fence
// (zero for a job without a lease): writes only the holder may make check
// it first (coord.Lease.Check).
type Job interface {
	Run(ctx context.Context, f coord.Fence) error
}

// JobFunc makes a function a Job.
type JobFunc func(ctx context.Context, f coord.Fence) error

// Run calls j.
func (j JobFunc) Run(ctx context.Context, f coord.Fence) error { return j(ctx, f) }

// Backoff is how a failed run is retried: after First, doubling up to
// Max. The zero Backoff does not retry (the job waits for its next due
// time or kick).
type Backoff struct{ First, Max time.Duration }

// Spec is a job and how it runs.
type Spec struct {
	// Name labels the job's metrics and log lines.
	Name string
	Job  Job
	// Schedule is when the job is due; nil: only when kicked.
	Schedule Schedule
	// AtStart runs the job once as soon as the runner starts.
	AtStart bool
	// Lease is held while the job runs; nil: the job excludes itself.
	Lease *coord.Lease
	// Keep holds the lease from one run to the next while this replica
	// lives (renewed in the background), instead of only during each run:
	// work that stays with one replica (an account's presence sweeps).
	Keep bool
	// Retry retries a failed run; the zero Backoff waits for the next due
	// time.
	Retry Backoff
	// Debounce is how long a kick waits for more (a burst of changes makes
	// one run).
	Debounce time.Duration
	// KickWhenHeld kicks the job again (after Debounce) when a kicked run
	// found the lease held by another replica: the holder may have started
	// before the news that kicked it.
	KickWhenHeld bool
	// Kick, if set, is how the job's owner asks for a run (NewKick); nil:
	// Add makes one.
	Kick *Kick
}

// Results of a run.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped" // another replica holds the lease
)

// ErrSkipped is what a job without a lease of the runner's returns when
// it left the work to another replica (its own lease was taken): the run
// counts as skipped, not failed.
var ErrSkipped = errors.New("left to another replica")

// Observer is told of every run (the process's metrics): its result,
// when it ended and how long it took.
type Observer interface {
	JobRun(job, result string, ended time.Time, took time.Duration)
}

// Options configure a Runner.
type Options struct {
	Clock    clockwork.Clock
	Logger   *slog.Logger
	Observer Observer // nil: nobody
}

// Runner runs the jobs added to it until its context ends.
type Runner struct {
	clock  clockwork.Clock
	log    *slog.Logger
	obs    Observer
	jobs   []*job
	groups map[*coord.Lease]*sync.Mutex
}

// Kick asks a job for a run: it runs as soon as its debounce allows.
type Kick struct{ c chan struct{} }

// NewKick returns a Kick for one Spec.
func NewKick() *Kick { return &Kick{c: make(chan struct{}, 1)} }

// Kick asks for a run (never blocks; kicks before a run coalesce).
func (k *Kick) Kick() {
	select {
	case k.c <- struct{}{}:
	default:
	}
}

type job struct {
	spec  Spec
	kick  *Kick
	group *sync.Mutex     // shared by the jobs of one lease
	held  *coord.Held     // Keep: the lease between runs
	retry backoff.BackOff // nil: no retry
}

// New returns a Runner without jobs.
func New(opts Options) *Runner {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nobody{}
	}
	return &Runner{clock: opts.Clock, log: opts.Logger, obs: opts.Observer, groups: map[*coord.Lease]*sync.Mutex{}}
}

type nobody struct{}

func (nobody) JobRun(string, string, time.Time, time.Duration) {}

// Add registers jobs (before Run).
func (r *Runner) Add(specs ...Spec) {
	for _, s := range specs {
		r.add(s)
	}
}

func (r *Runner) add(s Spec) {
	if s.Kick == nil {
		s.Kick = NewKick()
	}
	j := &job{spec: s, kick: s.Kick}
	if s.Lease != nil {
		if r.groups[s.Lease] == nil {
			r.groups[s.Lease] = &sync.Mutex{}
		}
		j.group = r.groups[s.Lease]
	}
	if s.Retry.First > 0 {
		j.retry = &backoff.ExponentialBackOff{InitialInterval: s.Retry.First, Multiplier: 2,
			MaxInterval: max(s.Retry.Max, s.Retry.First), RandomizationFactor: 0}
		j.retry.Reset()
	}
	r.jobs = append(r.jobs, j)
}

// Run runs every job until ctx ends, then gives up the leases it keeps.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, j := range r.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, j)
		}()
	}
	wg.Wait()
}

// loop waits for each reason to run j (due, retry, kick) until ctx ends.
func (r *Runner) loop(ctx context.Context, j *job) {
	defer func() {
		if j.held != nil {
			_ = j.held.Release()
		}
	}()
	var due <-chan time.Time // the schedule's next run
	var dueAt time.Time
	schedule := func(after time.Time) {
		due = nil
		if j.spec.Schedule == nil {
			return
		}
		next, err := j.spec.Schedule.Next(after)
		if err == nil && next.Before(r.clock.Now()) { // a run outlasted its period: no catching up
			next, err = j.spec.Schedule.Next(r.clock.Now())
		}
		if err != nil {
			r.log.Error(j.spec.Name+": no next run; its scheduled runs stop", slog.String("error", err.Error()))
			return
		}
		dueAt, due = next, r.clock.After(next.Sub(r.clock.Now()))
	}
	schedule(r.clock.Now())
	var retry <-chan time.Time
	var retryWait time.Duration
	now := j.spec.AtStart
	for {
		if !now {
			select {
			case <-ctx.Done():
				return
			case <-due:
				schedule(dueAt)
			case <-retry:
				r.log.Info(j.spec.Name+": retrying after a failure", slog.Duration("waited", retryWait))
			case <-j.kick.c:
				if j.spec.Debounce > 0 {
					select {
					case <-ctx.Done():
						return
					case <-r.clock.After(j.spec.Debounce):
					}
					select { // the kicks of the burst make this one run
					case <-j.kick.c:
					default:
					}
				}
			}
		}
		now = false
		start := r.clock.Now()
		result, err := r.runOnce(ctx, j)
		if ctx.Err() != nil {
			return
		}
		ended := r.clock.Now()
		r.obs.JobRun(j.spec.Name, result, ended, ended.Sub(start))
		switch result {
		case ResultOK:
			retry = nil
			if j.retry != nil {
				j.retry.Reset()
			}
		case ResultFailed:
			attrs := []any{slog.String("error", err.Error())}
			if j.retry != nil {
				retryWait = j.retry.NextBackOff()
				retry = r.clock.After(retryWait)
				attrs = append(attrs, slog.Duration("retry_in", retryWait))
			}
			r.log.Error(j.spec.Name+" failed", attrs...)
		case ResultSkipped:
			if j.spec.KickWhenHeld {
				j.kick.Kick()
			}
		}
	}
}

// runOnce runs j under its lease: skipped when another replica holds it.
func (r *Runner) runOnce(ctx context.Context, j *job) (string, error) {
	if j.group != nil {
		j.group.Lock()
		defer j.group.Unlock()
	}
	s := j.spec
	var err error
	switch {
	case s.Lease == nil:
		err = s.Job.Run(ctx, coord.Fence{})
	case s.Keep:
		if j.held != nil && j.held.Err() != nil { // lost since the last run
			_ = j.held.Release()
			j.held = nil
		}
		if j.held == nil {
			h, err := s.Lease.Acquire(ctx)
			if err != nil {
				return ResultFailed, err
			}
			if h == nil {
				return ResultSkipped, nil
			}
			j.held = h
		}
		err = s.Job.Run(j.held.Context(), j.held.Fence())
		if lost := j.held.Err(); err == nil && lost != nil {
			err = lost
		}
		if err != nil { // another replica may do better: let the lease go
			_ = j.held.Release()
			j.held = nil
		}
	default:
		var ran bool
		ran, err = s.Lease.Hold(ctx, s.Job.Run)
		if !ran && err == nil {
			return ResultSkipped, nil
		}
	}
	switch {
	case errors.Is(err, ErrSkipped):
		return ResultSkipped, nil
	case err != nil:
		return ResultFailed, err
	}
	return ResultOK, nil
}
