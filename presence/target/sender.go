package target

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// Results a push can have (metrics labels).
const (
	ResultDelivered = "delivered"
	ResultSkipped   = "skipped" // not in the status map, filtered, or the target declined
	ResultFailed    = "failed"  // will be retried
	ResultDead      = "dead"    // given up after dead_after
)

// Options configure a Sender.
type Options struct {
	Owner    string // this replica's name (the partition leases)
	Clock    clockwork.Clock
	Logger   *slog.Logger
	LeaseTTL time.Duration // default 10s
	Batch    int           // due users handled per target per round; default 200
	// OnResult, if set, is told about every push (metrics); latency is from
	// the status change to the target's answer.
	OnResult func(target, result string, latency time.Duration)
	// OnAnswer, if set, is told how long the target took to answer each
	// push, whatever it answered (metrics: a slow target, not a late
	// sender).
	OnAnswer func(target string, took time.Duration)
	// HTTPClient for webhook targets (default: one per target with its timeout).
	HTTPClient *http.Client
	// Zoom clients by account, for zoom_contact_center targets.
	Zoom map[string]*zoomapi.Client
}

// Sender pushes the outbox of every partition this replica owns.
type Sender struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	outbox   *zsync.Outbox
	targets  []*configured
	limiters map[string]*rate.Limiter
	accounts []string
	opts     Options
	mu       sync.Mutex
	jitter   *rand.Rand

	// Partitions are shared among live replicas: each holds at most
	// share of them (ceil of partitions ÷ replicas), owned counts its own.
	share atomic.Int64
	owned atomic.Int64
	// kick is closed (and replaced) by the heartbeat when this replica has
	// room for more partitions: loops waiting for room look again at once
	// instead of at their next timer.
	kickMu sync.Mutex
	kick   chan struct{}
}

// New builds the sender of configs for the accounts.
func New(rdb redis.UniversalClient, store *zsync.Store, configs []Config, accounts []string, opts Options) (*Sender, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 10 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 200
	}
	s := &Sender{rdb: rdb, store: store, outbox: store.Outbox(), accounts: accounts, opts: opts,
		limiters: map[string]*rate.Limiter{}, jitter: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	for _, c := range configs {
		var t Target
		switch c.Type {
		case TypeWebhook:
			t = NewWebhook(c, opts.HTTPClient, opts.Clock.Now)
		case TypeZoomContactCenter:
			t = NewContactCenter(opts.Zoom)
		default:
			return nil, errs.Errorf("target.New", errs.Invalid, "target %q: unknown type %q", c.Name, c.Type)
		}
		s.add(c, t)
	}
	s.kick = make(chan struct{})
	return s, nil
}

// add registers a target (tests add their own types this way).
func (s *Sender) add(c Config, t Target) {
	s.targets = append(s.targets, &configured{Config: c, Target: t})
	if c.RateLimit > 0 {
		s.limiters[c.Name] = rate.NewLimiter(rate.Limit(c.RateLimit), max(1, int(c.RateLimit)))
	}
}

// Names lists the targets.
func (s *Sender) Names() []string {
	out := make([]string, len(s.targets))
	for i, t := range s.targets {
		out[i] = t.Name
	}
	return out
}

// Run sends until ctx ends: one loop per partition of every account,
// active while this replica holds the partition's lease.
func (s *Sender) Run(ctx context.Context) {
	if len(s.targets) == 0 {
		return
	}
	total := int64(len(s.accounts) * s.outbox.Partitions())
	s.share.Store(total)
	var wg conc.WaitGroup
	wg.Go(func() { s.heartbeat(ctx, total) })
	for _, a := range s.accounts {
		for p := range s.outbox.Partitions() {
			wg.Go(func() { s.runPartition(ctx, a, p) })
		}
	}
	wg.Wait()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = s.outbox.Leave(lctx, s.opts.Owner)
	cancel()
}

// heartbeat keeps this replica in the live set and its fair share of the
// partitions current, so work spreads over replicas and moves within a
// lease period when one stops or dies.
func (s *Sender) heartbeat(ctx context.Context, total int64) {
	for ctx.Err() == nil {
		if live, err := s.outbox.Heartbeat(ctx, s.opts.Owner, s.opts.LeaseTTL); err == nil && live > 0 {
			s.share.Store((total + int64(live) - 1) / int64(live))
		}
		if s.owned.Load() < s.share.Load() {
			s.kickAll() // room for more: partitions nobody sends get taken now
		}
		select {
		case <-ctx.Done():
		case <-s.opts.Clock.After(s.opts.LeaseTTL / 3):
		}
	}
}

// kicked returns the channel the next kick closes.
func (s *Sender) kicked() <-chan struct{} {
	s.kickMu.Lock()
	defer s.kickMu.Unlock()
	return s.kick
}

func (s *Sender) kickAll() {
	s.kickMu.Lock()
	close(s.kick)
	s.kick = make(chan struct{})
	s.kickMu.Unlock()
}

// Partitions reports how many outbox partitions this replica sends for
// now and how many it may hold (its share of the live replicas').
func (s *Sender) Partitions() (owned, share int64) { return s.owned.Load(), s.share.Load() }

// reserve takes one of this replica's share of partitions (false: the
// share is full); unreserve gives it back.
func (s *Sender) reserve() bool {
	for {
		n := s.owned.Load()
		if n >= s.share.Load() {
			return false
		}
		if s.owned.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// overShare reports, at most once per excess partition, that this replica
// holds more than its share and should let one go.
func (s *Sender) overShare() bool {
	for {
		n := s.owned.Load()
		if n <= s.share.Load() {
			return false
		}
		if s.owned.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (s *Sender) runPartition(ctx context.Context, account string, p int) {
	clock, log := s.opts.Clock, s.opts.Logger.With(slog.String("account_id", account), slog.Int("partition", p))
	owned := false
	var renewAt time.Time
	defer func() {
		if owned {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = s.outbox.Release(rctx, account, p, s.opts.Owner)
			cancel()
			s.owned.Add(-1)
		}
	}()
	for ctx.Err() == nil {
		if owned && s.overShare() {
			// Another replica joined: hand this partition over.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = s.outbox.Release(rctx, account, p, s.opts.Owner)
			cancel()
			owned = false
		}
		if now := clock.Now(); !owned || !now.Before(renewAt) {
			wasOwned := owned
			kick := s.kicked()
			if !wasOwned {
				// Only a partition nobody holds competes for this replica's
				// room: a reservation for one another replica holds would
				// fail at Own, and loops that woke a moment after it would
				// find the room taken — the same ones, every round, while a
				// free partition went unsent.
				holder, err := s.outbox.Holder(ctx, account, p)
				if (err == nil && holder != "" && holder != s.opts.Owner) || !s.reserve() {
					select { // held elsewhere, or our share is full: look again later, or when there is room
					case <-ctx.Done():
					case <-clock.After(s.opts.LeaseTTL / 3):
					case <-kick:
					}
					continue
				}
			}
			ok, err := s.outbox.Own(ctx, account, p, s.opts.Owner, s.opts.LeaseTTL)
			if err != nil {
				log.Warn("outbox lease: Redis unavailable", slog.String("error", err.Error()))
			}
			owned, renewAt = ok && err == nil, now.Add(s.opts.LeaseTTL/3)
			if !owned {
				s.owned.Add(-1) // the reservation (or the lease we held) is gone
				select {
				case <-ctx.Done():
				case <-clock.After(s.opts.LeaseTTL / 3):
				case <-kick:
				}
				continue
			}
		}
		next := s.round(ctx, account, p)
		wait := renewAt.Sub(clock.Now())
		if !next.IsZero() {
			wait = min(wait, next.Sub(clock.Now()))
		}
		if wait <= 0 {
			continue
		}
		// The doorbell rings when a change is queued; BLPOP's timeout is
		// whole seconds, so waits are at least 1 s unless it rings.
		if err := s.outbox.Wait(ctx, account, p, max(wait, time.Second)); err != nil && ctx.Err() == nil {
			log.Warn("outbox: Redis unavailable", slog.String("error", err.Error()))
			select {
			case <-ctx.Done():
			case <-clock.After(time.Second):
			}
		}
	}
}

// round pushes what is due in the partition, every target at once, and
// returns when the next retry or damped change is due (zero: nothing).
func (s *Sender) round(ctx context.Context, account string, p int) time.Time {
	var mu sync.Mutex
	var next time.Time
	var wg conc.WaitGroup
	for _, t := range s.targets {
		wg.Go(func() {
			n, err := s.drain(ctx, account, p, t)
			if err != nil && ctx.Err() == nil {
				s.opts.Logger.Warn("outbox round failed", slog.String("target", t.Name), slog.String("error", err.Error()))
				n = s.opts.Clock.Now().Add(time.Second)
			}
			mu.Lock()
			if !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return next
}

// drain handles the due users of one target until none is due now.
func (s *Sender) drain(ctx context.Context, account string, p int, t *configured) (time.Time, error) {
	for ctx.Err() == nil {
		now := s.opts.Clock.Now()
		users, err := s.outbox.Due(ctx, account, p, t.Name, now, s.opts.Batch)
		if err != nil {
			return time.Time{}, err
		}
		if len(users) == 0 {
			break
		}
		pend, err := s.outbox.Load(ctx, account, p, t.Name, users)
		if err != nil {
			return time.Time{}, err
		}
		for _, u := range users { // due without a queued change: nothing owed
			if !slices.ContainsFunc(pend, func(x zsync.Pending) bool { return x.User == u }) {
				if err := s.outbox.Settle(ctx, account, p, t.Name, u, 0); err != nil {
					return time.Time{}, err
				}
			}
		}
		for _, pd := range pend {
			if err := s.one(ctx, account, p, t, pd); err != nil {
				return time.Time{}, err
			}
		}
		if len(users) < s.opts.Batch {
			break
		}
	}
	return s.outbox.NextDue(ctx, account, p, t.Name)
}

// one pushes one user's pending change to one target. Errors returned are
// Redis errors (the round stops); push failures are scheduled retries.
func (s *Sender) one(ctx context.Context, account string, p int, t *configured, pd zsync.Pending) error {
	now := s.opts.Clock.Now()
	if pd.Change.Seq <= pd.Sent && t.KeepAlive.Duration == 0 {
		return s.outbox.Settle(ctx, account, p, t.Name, pd.User, pd.Change.Seq)
	}
	// (With a keep-alive, a due user whose change was delivered is due for
	// its re-push: the current status goes out again.)
	push, err := s.build(ctx, account, t.Name, pd)
	if err != nil {
		return err
	}
	tv, ok := t.decide(&push)
	if !ok {
		s.result(t.Name, ResultSkipped, push.Since)
		return s.outbox.Settle(ctx, account, p, t.Name, pd.User, pd.Change.Seq)
	}
	push.TargetStatus = tv
	if t.DampingMS > 0 && push.Status != presence.OnCall {
		if hold := push.Since.Add(time.Duration(t.DampingMS) * time.Millisecond); now.Before(hold) {
			return s.outbox.Defer(ctx, account, p, t.Name, pd.User, hold)
		}
	}
	if l := s.limiters[t.Name]; l != nil {
		if err := l.Wait(ctx); err != nil {
			return err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, t.Timeout.Duration)
	pushed := s.opts.Clock.Now()
	err = t.Push(pctx, push)
	cancel()
	if s.opts.OnAnswer != nil {
		s.opts.OnAnswer(t.Name, s.opts.Clock.Since(pushed))
	}
	switch {
	case err == nil:
		s.result(t.Name, ResultDelivered, push.Since)
		if t.KeepAlive.Duration > 0 {
			return s.outbox.SettleAndRepeat(ctx, account, p, t.Name, pd.User, pd.Change.Seq, now.Add(t.KeepAlive.Duration))
		}
		return s.outbox.Settle(ctx, account, p, t.Name, pd.User, pd.Change.Seq)
	case errors.Is(err, ErrSkip):
		s.result(t.Name, ResultSkipped, push.Since)
		s.opts.Logger.Info("push skipped", slog.String("target", t.Name), slog.String("user", pd.User), slog.String("reason", err.Error()))
		return s.outbox.Settle(ctx, account, p, t.Name, pd.User, pd.Change.Seq)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	first := pd.Failing
	if first.IsZero() {
		first = now
	}
	if now.Sub(first) >= t.DeadAfter.Duration {
		s.result(t.Name, ResultDead, push.Since)
		s.opts.Logger.Error("push given up: dead-lettered", slog.String("target", t.Name), slog.String("user", pd.User),
			slog.Int("attempts", pd.Attempts+1), slog.String("error", err.Error()))
		pd.Attempts++
		return s.outbox.Dead(ctx, account, p, t.Name, pd, err.Error())
	}
	s.result(t.Name, ResultFailed, push.Since)
	s.mu.Lock()
	next := retryAt(now, pd.Attempts, err, func(d time.Duration) time.Duration { return time.Duration(s.jitter.Int64N(int64(d))) })
	s.mu.Unlock()
	return s.outbox.Retry(ctx, account, p, t.Name, pd.User, next, first, pd.Attempts+1)
}

func (s *Sender) result(target, result string, since time.Time) {
	if s.opts.OnResult != nil {
		s.opts.OnResult(target, result, s.opts.Clock.Since(since))
	}
}

// build assembles the push from the user's record.
func (s *Sender) build(ctx context.Context, account, target string, pd zsync.Pending) (Push, error) {
	push := Push{Target: target, AccountID: account, ZoomUserID: pd.User, Status: presence.Status(pd.Change.Status),
		Previous: presence.Status(pd.Change.Previous), Since: pd.Change.At, Seq: pd.Change.Seq}
	rec, err := s.store.User(ctx, account, pd.User)
	if errs.Is(errs.NotFound, err) {
		return push, nil // expired tombstone: what the outbox says is all there is
	}
	if err != nil {
		return push, err
	}
	f := rec.Fields
	push.Email = f[zsync.FieldEmail]
	if f[zsync.FieldDirID] != "" {
		push.Directory = &Directory{DN: f[zsync.FieldDirDN], UID: f[zsync.FieldDirUID], EmployeeNumber: f[zsync.FieldDirEmployeeNumber]}
	}
	if g := f[zsync.FieldGroupIDs]; g != "" {
		_ = json.Unmarshal([]byte(g), &push.GroupIDs)
	}
	if v, ok := rec.Versions[zsync.FieldAgentStatusID]; ok {
		push.AgentStatusAt = v.Time()
	}
	return push, nil
}
