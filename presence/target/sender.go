package target

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/internal/coord"
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
	ResultDead      = "dead"    // given up: a failure asking again cannot fix, or one that lasted dead_after
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
	// push request (a batch is one), whatever it answered (metrics: a slow
	// target, not a late sender).
	OnAnswer func(target string, took time.Duration)
	// HTTPClient for webhook targets (default: one per target with its timeout).
	HTTPClient *http.Client
	// Zoom clients by account, for zoom_contact_center targets.
	Zoom map[string]*zoomapi.Client
	// OnAuthFailure, if set, is told each time a target's credentials or
	// consent are refused (metrics: an alert).
	OnAuthFailure func(target string)
	// Members is the live set the outbox partitions are shared by (run by
	// the caller); nil: the sender keeps its own membership while it runs.
	Members *coord.Members
}

// Sender pushes the outbox of every partition this replica owns.
type Sender struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	outbox   *zsync.Outbox
	targets  []*configured
	accounts []string
	opts     Options
	// share bounds the partitions this replica sends for: its fair share
	// among the live replicas.
	share *coord.FairShare
}

// New builds the sender of configs for the accounts: each target's
// driver is built by its type (Build) with what the options provide.
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
	s := &Sender{rdb: rdb, store: store, outbox: store.Outbox(), accounts: accounts, opts: opts}
	deps := Deps{HTTP: opts.HTTPClient, Zoom: opts.Zoom, Redis: rdb, Logger: opts.Logger, Clock: opts.Clock,
		OnAuthFailure: opts.OnAuthFailure}
	for _, c := range configs {
		d, err := Build(c, deps)
		if err != nil {
			return nil, errs.E("target.New", errs.Invalid, err)
		}
		s.add(c, d)
	}
	s.share = coord.NewFairShare(len(accounts) * s.outbox.Partitions())
	return s, nil
}

// add sends to a target through d (tests add drivers of their own this
// way).
func (s *Sender) add(c Config, d Driver) {
	s.targets = append(s.targets, newConfigured(c, TraitsOf(c.Type), d))
}

// Names lists the targets.
func (s *Sender) Names() []string {
	out := make([]string, len(s.targets))
	for i, t := range s.targets {
		out[i] = t.Name
	}
	return out
}

// Run sends until ctx ends: the partitions of every account are dealt
// over the live replicas (coord.Dealer), and each one this replica holds
// is sent by rounds (step) while its lease holds.
func (s *Sender) Run(ctx context.Context) {
	if len(s.targets) == 0 {
		return
	}
	members := s.opts.Members
	var wg conc.WaitGroup
	mctx, stopMembers := context.WithCancel(context.WithoutCancel(ctx))
	if members == nil {
		members = coord.NewMembers(s.rdb, s.opts.Owner, coord.MembersOptions{TTL: s.opts.LeaseTTL, Clock: s.opts.Clock, Logger: s.opts.Logger})
		wg.Go(func() { members.Run(mctx) })
	}
	parts := s.outbox.Partitions()
	d := &coord.Dealer{Pieces: len(s.accounts) * parts, Members: members, Share: s.share, Clock: s.opts.Clock, Logger: s.opts.Logger,
		Lease: func(i int) *coord.Lease {
			return s.outbox.Lease(s.accounts[i/parts], i%parts, coord.LeaseOptions{Owner: s.opts.Owner, TTL: s.opts.LeaseTTL, Clock: s.opts.Clock, Logger: s.opts.Logger})
		}}
	d.Run(ctx, func(ctx context.Context, i int) { s.step(ctx, s.accounts[i/parts], i%parts) })
	stopMembers() // leave the live set only once every partition is released
	wg.Wait()
}

// Partitions reports how many outbox partitions this replica sends for
// now and how many it may hold (its share of the live replicas').
func (s *Sender) Partitions() (owned, share int64) { return s.share.Counts() }

// step is one round of a partition this replica holds: it pushes what is
// due, then waits for the doorbell until the next retry or damped change
// is due, at most a third of the lease TTL (so the partition can be
// handed over between rounds).
func (s *Sender) step(ctx context.Context, account string, p int) {
	clock := s.opts.Clock
	next := s.round(ctx, account, p)
	wait := s.opts.LeaseTTL / 3
	if !next.IsZero() {
		wait = min(wait, next.Sub(clock.Now()))
	}
	if wait <= 0 || ctx.Err() != nil {
		return
	}
	// The doorbell rings when a change is queued; BLPOP's timeout is
	// whole seconds, so waits are at least 1 s unless it rings.
	if err := s.outbox.Wait(ctx, account, p, max(wait, time.Second)); err != nil && ctx.Err() == nil {
		s.opts.Logger.Warn("outbox: Redis unavailable", slog.String("account_id", account), slog.Int("partition", p), slog.String("error", err.Error()))
		select {
		case <-ctx.Done():
		case <-clock.After(time.Second):
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
		// One read of what is owed and what the pushes carry; the batch's
		// settlements go in one script call at its end (each user is in a
		// batch once, and the next batch is read after them, so a user's
		// pushes stay in order).
		pend, err := s.outbox.Load(ctx, account, p, t.Name, users)
		if err != nil {
			return time.Time{}, err
		}
		b := &batch{account: account, p: p}
		for _, u := range users { // due without a queued change: nothing owed
			if !slices.ContainsFunc(pend, func(x zsync.Pending) bool { return x.User == u }) {
				b.settle(zsync.Settlement{User: u})
			}
		}
		var due []duePush
		for _, pd := range pend {
			push, send, err := s.prepare(ctx, b, t, pd)
			if err != nil {
				return time.Time{}, err
			}
			if send {
				due = append(due, duePush{pd, push})
			}
		}
		err = s.send(ctx, b, t, due)
		if serr := s.outbox.SettleAll(ctx, account, p, t.Name, b.settled); err == nil {
			err = serr
		}
		if err != nil {
			return time.Time{}, err
		}
		if len(users) < s.opts.Batch {
			break
		}
	}
	return s.outbox.NextDue(ctx, account, p, t.Name)
}

// batch is what a round of one partition and target has settled, to
// record in one call.
type batch struct {
	account string
	p       int
	mu      sync.Mutex
	settled []zsync.Settlement
}

func (b *batch) settle(st zsync.Settlement) {
	b.mu.Lock()
	b.settled = append(b.settled, st)
	b.mu.Unlock()
}

// duePush is a change to push now.
type duePush struct {
	pd   zsync.Pending
	push Push
}

// prepare decides what to do with one user's pending change: settle it
// (nothing owed, or not for this target), defer it (damping), or push it
// (send). Errors returned are Redis errors (the round stops).
func (s *Sender) prepare(ctx context.Context, b *batch, t *configured, pd zsync.Pending) (Push, bool, error) {
	if pd.Change.Seq <= pd.Sent && t.keepAlive == 0 {
		b.settle(zsync.Settlement{User: pd.User, Seq: pd.Change.Seq, NotFailing: pd.Failing.IsZero()})
		return Push{}, false, nil
	}
	// (With a keep-alive, a due user whose change was delivered is due for
	// its re-push: the current status goes out again.)
	push := s.build(b.account, t.Name, pd)
	if !t.decide(&push) {
		s.result(t.Name, ResultSkipped, push.Since)
		b.settle(zsync.Settlement{User: pd.User, Seq: pd.Change.Seq, NotFailing: pd.Failing.IsZero()})
		return push, false, nil
	}
	if t.DampingMS > 0 && push.Status != presence.OnCall {
		if hold := push.Since.Add(time.Duration(t.DampingMS) * time.Millisecond); s.opts.Clock.Now().Before(hold) {
			return push, false, s.outbox.Defer(ctx, b.account, b.p, t.Name, pd.User, hold)
		}
	}
	return push, true, nil
}

// inFlight is how many pushes of one partition and target a driver
// without batches has under way at once: they are to different users (a
// user is in a round's batch once), so each user's pushes stay in order.
const inFlight = 8

// send pushes the ready changes, in batches when the driver takes them
// (else up to inFlight at once), and records each outcome.
func (s *Sender) send(ctx context.Context, b *batch, t *configured, rs []duePush) error {
	bd, batches := t.driver.(BatchDriver)
	size := inFlight
	if batches {
		size = max(1, bd.MaxBatch())
	}
	for chunk := range slices.Chunk(rs, size) {
		if t.limiter != nil {
			for range chunk {
				if err := t.limiter.Wait(ctx); err != nil {
					return err
				}
			}
		}
		pctx, cancel := context.WithTimeout(ctx, t.Timeout.Duration)
		asked := s.opts.Clock.Now()
		var results []error
		switch {
		case len(chunk) > 1 && batches:
			pushes := make([]Push, len(chunk))
			for i, r := range chunk {
				pushes[i] = r.push
			}
			results = bd.PushBatch(pctx, pushes)
		case len(chunk) > 1:
			results = make([]error, len(chunk))
			var wg conc.WaitGroup
			for i, r := range chunk {
				wg.Go(func() { results[i] = t.driver.Push(pctx, r.push) })
			}
			wg.Wait()
		default:
			results = []error{t.driver.Push(pctx, chunk[0].push)}
		}
		cancel()
		if s.opts.OnAnswer != nil {
			s.opts.OnAnswer(t.Name, s.opts.Clock.Since(asked))
		}
		for i, r := range chunk {
			var err error
			if i < len(results) {
				err = results[i]
			} else {
				err = errs.Errorf("target.PushBatch", errs.Transient, "the driver answered %d results for %d pushes", len(results), len(chunk))
			}
			if err := s.finish(ctx, b, t, r.pd, r.push, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish records one push's outcome: settled (delivered, or skipped by
// the driver), scheduled again (a retryable failure, with backoff or at
// its RetryAt), or dead-lettered with the reason (a failure asking again
// cannot fix, or one that lasted dead_after). Errors returned are Redis
// errors (the round stops).
func (s *Sender) finish(ctx context.Context, b *batch, t *configured, pd zsync.Pending, push Push, err error) error {
	now := s.opts.Clock.Now()
	account, p := b.account, b.p
	switch {
	case err == nil:
		s.result(t.Name, ResultDelivered, push.Since)
		st := zsync.Settlement{User: pd.User, Seq: pd.Change.Seq, NotFailing: pd.Failing.IsZero()}
		if t.keepAlive > 0 && !push.Clear {
			st.Repeat = now.Add(t.keepAlive)
		}
		b.settle(st)
		return nil
	case errors.Is(err, ErrSkip):
		s.result(t.Name, ResultSkipped, push.Since)
		s.opts.Logger.Debug("push skipped", slog.String("target", t.Name), slog.String("user", pd.User), slog.String("reason", err.Error()))
		b.settle(zsync.Settlement{User: pd.User, Seq: pd.Change.Seq, NotFailing: pd.Failing.IsZero()})
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	first := pd.Failing
	if first.IsZero() {
		first = now
	}
	if t.deadNow(err) || now.Sub(first) >= t.DeadAfter.Duration {
		s.result(t.Name, ResultDead, push.Since)
		s.opts.Logger.Error("push given up: dead-lettered", slog.String("target", t.Name), slog.String("user", pd.User),
			slog.Int("attempts", pd.Attempts+1), slog.String("kind", errs.KindOf(err).String()), slog.String("error", err.Error()))
		pd.Attempts++
		return s.outbox.Dead(ctx, account, p, t.Name, pd, err.Error())
	}
	s.result(t.Name, ResultFailed, push.Since)
	return s.outbox.Retry(ctx, account, p, t.Name, pd.User, retryAt(now, pd.Attempts, err), first, pd.Attempts+1)
}

func (s *Sender) result(target, result string, since time.Time) {
	if s.opts.OnResult != nil {
		s.opts.OnResult(target, result, s.opts.Clock.Since(since))
	}
}

// build assembles the push from the change and the record's PushFields
// that Load read with it.
func (s *Sender) build(account, target string, pd zsync.Pending) Push {
	push := Push{Target: target, AccountID: account, ZoomUserID: pd.User, Status: presence.Status(pd.Change.Status),
		Previous: presence.Status(pd.Change.Previous), Since: pd.Change.At, Seq: pd.Change.Seq}
	rec := pd.Record
	if rec == nil {
		return push // expired tombstone: what the outbox says is all there is
	}
	f := rec.Fields
	push.Email = f[zsync.FieldEmail]
	if f[zsync.FieldDirID] != "" {
		push.Directory = &Directory{ID: f[zsync.FieldDirID], DN: f[zsync.FieldDirDN], UID: f[zsync.FieldDirUID], EmployeeNumber: f[zsync.FieldDirEmployeeNumber]}
	}
	if g := f[zsync.FieldGroupIDs]; g != "" {
		_ = json.Unmarshal([]byte(g), &push.GroupIDs)
	}
	if v, ok := rec.Versions[zsync.FieldAgentStatusID]; ok {
		push.AgentStatusAt = v.Time()
	}
	return push
}
