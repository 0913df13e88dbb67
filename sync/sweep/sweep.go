package sweep

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/periodic"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// PresenceReader reads one user's presence (zoomapi.UsersService).
type PresenceReader interface {
	GetPresence(ctx context.Context, idOrEmail string) (*zoomapi.Presence, *zoomapi.Response, error)
}

// Observer is told how each REST presence read went, by account:
// ok, rate_limited, failed (retryable) or refused.
type Observer interface {
	PresenceRead(account, result string)
}

// Options configure a Sweeper.
type Options struct {
	// MaxAge: a user whose presence nothing confirmed for this long is
	// re-read (ZOOMSYNC_PRESENCE_MAX_AGE).
	MaxAge time.Duration
	// ReadsPerSecond bounds the re-reads per account; 0: none
	// (ZOOMSYNC_PRESENCE_READS_PER_SECOND).
	ReadsPerSecond float64
	// CallMax: a call without its end event is closed after this long
	// (ZOOMSYNC_CALL_MAX_DURATION).
	CallMax time.Duration
	// Every is how often each account is swept (default 1 s).
	Every time.Duration
	// Replica owns the accounts' leases for this process.
	Replica  string
	Clock    clockwork.Clock
	Logger   *slog.Logger
	Observer Observer // nil: nobody
}

// JobPrefix names an account's sweep among the periodic jobs: the job
// is JobPrefix + account id.
const JobPrefix = "presence_sweep:"

// Sweeper sweeps the accounts' presence.
type Sweeper struct {
	store    *zsync.Store
	readers  map[string]PresenceReader // by account id
	opts     Options
	leases   map[string]*coord.Lease
	limiters map[string]*rate.Limiter
}

// New returns the sweeper of the accounts in readers (each account's
// presence reader).
func New(rdb redis.UniversalClient, store *zsync.Store, readers map[string]PresenceReader, opts Options) *Sweeper {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nobody{}
	}
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	s := &Sweeper{store: store, readers: readers, opts: opts, leases: map[string]*coord.Lease{}, limiters: map[string]*rate.Limiter{}}
	for id := range readers {
		s.limiters[id] = rate.NewLimiter(rate.Limit(opts.ReadsPerSecond), 1)
		s.leases[id] = coord.NewLease(rdb, "presence-sweeper:"+id, coord.LeaseOptions{Owner: opts.Replica, Clock: opts.Clock, Logger: opts.Logger})
	}
	return s
}

type nobody struct{}

func (nobody) PresenceRead(string, string) {}

// Lease is the account's sweep lease.
func (s *Sweeper) Lease(account string) *coord.Lease { return s.leases[account] }

// Specs are the sweeps as periodic jobs: one per account, at start and
// every Every, under the account's lease kept from one pass to the next
// while this replica lives (a failed pass lets it go).
func (s *Sweeper) Specs() []periodic.Spec {
	var specs []periodic.Spec
	for id := range s.readers {
		specs = append(specs, periodic.Spec{Name: JobPrefix + id, Job: accountJob{s, id}, Schedule: periodic.Every(s.opts.Every),
			AtStart: true, Lease: s.leases[id], Keep: true})
	}
	return specs
}

// accountJob is one pass over an account.
type accountJob struct {
	s       *Sweeper
	account string
}

func (j accountJob) Run(ctx context.Context, _ coord.Fence) error { return j.s.Pass(ctx, j.account) }

// Pass sweeps every partition of one account once.
func (s *Sweeper) Pass(ctx context.Context, account string) error {
	for p := range s.store.Outbox().Partitions() {
		if err := s.closeLongCalls(ctx, account, p); err != nil {
			return err
		}
		if s.opts.ReadsPerSecond == 0 {
			continue
		}
		stop, err := s.reread(ctx, account, p)
		if err != nil {
			return err
		}
		if stop {
			break // rate limited: the rest of this account waits for the next pass
		}
	}
	return nil
}

func (s *Sweeper) closeLongCalls(ctx context.Context, account string, p int) error {
	now := s.opts.Clock.Now()
	calls, err := s.store.LongCalls(ctx, account, p, now.Add(-s.opts.CallMax), 100)
	if err != nil || len(calls) == 0 {
		return err
	}
	// Only the calls that are too long end: the user's other calls go on.
	v := zsync.PullVersion(now)
	ws := make([]zsync.Write, 0, len(calls))
	for _, c := range calls {
		if len(ws) == 0 || ws[len(ws)-1].UserKey != c.User {
			ws = append(ws, zsync.Write{Account: account, UserKey: c.User})
		}
		w := &ws[len(ws)-1]
		w.Fields = append(w.Fields, zsync.FieldWrite{Name: zsync.CallField(c.CallID), Version: v, Value: zsync.CallEnded})
		s.opts.Logger.Warn("call closed: no end event within ZOOMSYNC_CALL_MAX_DURATION", slog.String("account_id", account),
			slog.String("user", c.User), slog.String("call_id", c.CallID), slog.Time("began", c.Began))
	}
	_, err = s.store.ApplyBatch(ctx, ws)
	return err
}

// reread re-reads stale presence in one partition; stop reports that the
// account's rate limit was reached.
func (s *Sweeper) reread(ctx context.Context, account string, p int) (stop bool, err error) {
	clock, log := s.opts.Clock, s.opts.Logger
	users, err := s.store.Stale(ctx, account, p, clock.Now().Add(-s.opts.MaxAge), 20)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		if strings.HasPrefix(u, "e:") { // a pending user without a Zoom id: nothing to read
			if err := s.store.Touch(ctx, account, u, clock.Now()); err != nil {
				return false, err
			}
			continue
		}
		if err := s.limiters[account].Wait(ctx); err != nil {
			return true, nil
		}
		asked := clock.Now()
		pr, _, err := s.readers[account].GetPresence(ctx, u)
		switch {
		case err == nil:
			if err := s.store.ApplyPresenceRead(ctx, account, u, pr.Status, asked); err != nil {
				return false, err
			}
			s.opts.Observer.PresenceRead(account, "ok")
		case errs.Is(errs.RateLimited, err):
			s.opts.Observer.PresenceRead(account, "rate_limited")
			return true, nil
		case errs.Retryable(err):
			s.opts.Observer.PresenceRead(account, "failed")
			return true, nil
		default: // not found, no permission (5411): do not ask again soon
			s.opts.Observer.PresenceRead(account, "refused")
			log.Info("presence read refused", slog.String("account_id", account), slog.String("user", u), slog.String("error", err.Error()))
			if err := s.store.Touch(ctx, account, u, clock.Now()); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}
