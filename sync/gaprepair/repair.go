package gaprepair

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/errs"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// PresenceReader reads one user's presence from Zoom's REST API.
type PresenceReader interface {
	GetPresence(ctx context.Context, idOrEmail string) (*zoomapi.Presence, *zoomapi.Response, error)
}

// Store is what a repair reads and writes.
type Store interface {
	ActiveByActivity(ctx context.Context, account string, cutoff time.Time, limit int) ([]zsync.Active, error)
	ApplyPresenceRead(ctx context.Context, account, userKey, restStatus string, asked time.Time) error
}

// Observer is told how repairs go (metrics). Accounts come from
// configuration; results are the Result constants.
type Observer interface {
	RepairStarted(account string, gap time.Duration, users int)
	RepairProgress(account string, done, total int)
	RepairFinished(account, result string, took time.Duration)
}

// Results of a repair.
const (
	ResultComplete = "complete"
	ResultFailed   = "failed" // retried after RetryAfter
	ResultStopped  = "stopped"
)

// Account is one account's means of repair.
type Account struct {
	ID       string
	Presence PresenceReader
	// PullUsers picks up user changes (a full pull through the versioned
	// writes: Zoom's user listing has no "changed since").
	PullUsers func(ctx context.Context) error
}

// Options configure a Repairer.
type Options struct {
	Store    Store
	Accounts []Account
	// ReadsPerSecond bounds each account's presence re-reads (Zoom's
	// Medium label, shared with the account's other Medium calls).
	ReadsPerSecond float64
	Marks          *Marks // nil: nothing is recorded across replicas
	Observer       Observer
	RetryAfter     time.Duration // a failed repair runs again after this; 0: 1 minute
	Clock          clockwork.Clock
	Logger         *slog.Logger
}

// Repairer repairs the gaps of WebSocket subscriptions: per account one
// repair at a time; gaps that arrive meanwhile merge into one more run.
type Repairer struct {
	opts     Options
	accounts map[string]Account
	limiters map[string]*rate.Limiter

	mu      sync.Mutex
	running map[string]bool
	pending map[string]*pendingGap
	wg      sync.WaitGroup
}

type pendingGap struct {
	subscription string
	start, end   time.Time
}

// New returns a repairer.
func New(opts Options) *Repairer {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Minute
	}
	if opts.ReadsPerSecond <= 0 {
		opts.ReadsPerSecond = 10
	}
	r := &Repairer{opts: opts, accounts: map[string]Account{}, limiters: map[string]*rate.Limiter{},
		running: map[string]bool{}, pending: map[string]*pendingGap{}}
	for _, a := range opts.Accounts {
		r.accounts[a.ID] = a
		r.limiters[a.ID] = rate.NewLimiter(rate.Limit(opts.ReadsPerSecond), 1)
	}
	return r
}

// Wait waits for the repairs under way (they stop when their context
// ends).
func (r *Repairer) Wait() { r.wg.Wait() }

// Repair schedules the repair of a gap of subscription's account between
// start (zero: unknown) and end, and returns at once. ctx bounds the
// repair (the process's work context, not a connection's: a repair goes
// on when the connection drops again).
func (r *Repairer) Repair(ctx context.Context, account, subscription string, start, end time.Time) {
	if _, ok := r.accounts[account]; !ok {
		return
	}
	if r.opts.Marks != nil {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := r.opts.Marks.RepairFrom(mctx, subscription, start); err != nil {
			r.opts.Logger.Warn("gap repair: could not record the gap; a crash now would leave it unrepaired", slog.String("error", err.Error()))
		}
		cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[account]
	if p == nil {
		p = &pendingGap{subscription: subscription, start: start, end: end}
		r.pending[account] = p
	} else {
		p.start = minTime(p.start, start)
		if end.After(p.end) {
			p.end = end
		}
	}
	if r.running[account] {
		return // the running repair takes it next
	}
	r.running[account] = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.loop(ctx, account)
	}()
}

// loop runs the account's pending repairs until none is left.
func (r *Repairer) loop(ctx context.Context, account string) {
	for {
		r.mu.Lock()
		p := r.pending[account]
		delete(r.pending, account)
		if p == nil || ctx.Err() != nil {
			r.running[account] = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		if err := r.run(ctx, account, *p); err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("gap repair failed; it runs again", slog.String("account_id", account),
				slog.String("error", err.Error()), slog.Duration("retry_in", r.opts.RetryAfter))
			select {
			case <-ctx.Done():
			case <-r.opts.Clock.After(r.opts.RetryAfter):
			}
			r.mu.Lock()
			if q := r.pending[account]; q == nil {
				r.pending[account] = p
			} else {
				q.start = minTime(q.start, p.start)
			}
			r.mu.Unlock()
		}
	}
}

// minTime is the earlier of two gap starts; zero (unknown) is earliest.
func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.IsZero() {
		return time.Time{}
	}
	if b.Before(a) {
		return b
	}
	return a
}

// run repairs one gap: the account's users are pulled again while the
// presence of its active users is re-read, most recently active first,
// within the read rate. Users whose presence was confirmed after the gap
// ended (an event arrived since) are not read.
func (r *Repairer) run(ctx context.Context, account string, g pendingGap) error {
	a := r.accounts[account]
	log := r.opts.Logger.With(slog.String("account_id", account), slog.String("subscription_id", g.subscription))
	began := r.opts.Clock.Now()
	// Users first: a user created or activated during the gap (or before
	// the first pull wrote anyone) is then among those whose presence is
	// read. A pull costs ceil(users/300) Medium requests.
	var pullErr error
	if a.PullUsers != nil {
		if pullErr = a.PullUsers(ctx); pullErr != nil && ctx.Err() == nil {
			log.Warn("gap repair: the user pull failed; presence is re-read all the same", slog.String("error", pullErr.Error()))
		}
	}
	users, err := r.opts.Store.ActiveByActivity(ctx, account, g.end, 0)
	if err != nil {
		return err
	}
	gap := time.Duration(0)
	if !g.start.IsZero() {
		gap = g.end.Sub(g.start)
	}
	if r.opts.Observer != nil {
		r.opts.Observer.RepairStarted(account, gap, len(users))
	}
	bound := time.Duration(float64(len(users)) / r.opts.ReadsPerSecond * float64(time.Second))
	log.Info("websocket gap repair: users pulled, re-reading presence (Zoom does not redeliver events missed while the socket was closed)",
		slog.Float64("gap_seconds", gap.Seconds()), slog.Bool("gap_start_known", !g.start.IsZero()),
		slog.Int("presence_rereads", len(users)), slog.Duration("presence_bound", bound.Round(time.Second)))
	readErr := r.reread(ctx, a, users, log)
	result := ResultComplete
	switch {
	case ctx.Err() != nil:
		result = ResultStopped
	case readErr != nil || pullErr != nil:
		result = ResultFailed
	}
	took := r.opts.Clock.Since(began)
	if r.opts.Observer != nil {
		r.opts.Observer.RepairFinished(account, result, took)
	}
	if result != ResultComplete {
		if readErr != nil {
			return readErr
		}
		if pullErr != nil {
			return pullErr
		}
		return ctx.Err()
	}
	if r.opts.Marks != nil {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = r.opts.Marks.Repaired(mctx, g.subscription, g.start)
		cancel()
	}
	log.Info("websocket gap repair complete", slog.Float64("gap_seconds", gap.Seconds()), slog.Int("presence_rereads", len(users)),
		slog.Duration("took", took.Round(time.Millisecond)))
	return nil
}

// reread reads each user's presence within the account's rate, writing
// what Zoom says as a pulled fact (an event newer than the read wins).
func (r *Repairer) reread(ctx context.Context, a Account, users []zsync.Active, log *slog.Logger) error {
	lim := r.limiters[a.ID]
	lastReport := r.opts.Clock.Now()
	for i, u := range users {
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		asked := r.opts.Clock.Now()
		pr, _, err := a.Presence.GetPresence(ctx, u.User)
		switch {
		case err == nil:
			if err := r.opts.Store.ApplyPresenceRead(ctx, a.ID, u.User, pr.Status, asked); err != nil {
				return err
			}
		case errs.Retryable(err):
			return err
		default: // not found, no permission: the sweeper deals with it
		}
		done := i + 1
		if r.opts.Observer != nil {
			r.opts.Observer.RepairProgress(a.ID, done, len(users))
		}
		if now := r.opts.Clock.Now(); now.Sub(lastReport) >= 10*time.Second {
			lastReport = now
			log.Info("websocket gap repair progress", slog.Int("presence_reread", done), slog.Int("presence_rereads", len(users)))
		}
	}
	return nil
}
