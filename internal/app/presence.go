package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/presence/target"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// newStore is the store every command uses: status changes are queued for
// the configured targets in the same step that makes them, and a change
// of a user's directory data for the targets that receive it.
func newStore(rdb redis.UniversalClient, cfg *config.Config) *zsync.Store {
	var withDir []string
	for _, c := range cfg.Targets.Configs {
		if target.ReceivesDirectory(c.Type) {
			withDir = append(withDir, c.Name)
		}
	}
	return zsync.NewStore(rdb, partitions(cfg), cfg.Resync.TombstoneTTL).WithPresence(cfg.Targets.Names(), cfg.Presence.History).
		WithDirectoryTargets(withDir)
}

// partitions is how many partitions each account's users spread over. A
// real Redis always gets the default (the keys depend on it, so it must
// never change for a given Redis). The embedded one lives and dies with
// the process, and being single-threaded, every blocked reader (an inbox
// consumer and an outbox sender per partition) is woken by every command:
// fewer partitions keep the demo quick.
func partitions(cfg *config.Config) int {
	if cfg.Redis.Embedded() {
		return 2
	}
	return zsync.DefaultPartitions
}

// sweeper keeps presence honest: users whose presence nothing confirmed
// for Presence.MaxAge are re-read through the REST presence API (oldest
// first, within Presence.ReadsPerSecond per account), and calls whose end
// event never came are closed after Presence.CallMax. Each account is
// swept every second by one replica at a time, under its own lease held
// while that replica lives: the account's Zoom rate budget is spent by
// one limiter, accounts spread over the replicas, and a dead replica's
// accounts move to the others within the lease's TTL.
type sweeper struct {
	store    *zsync.Store
	accounts map[string]*account
	cfg      config.Presence
	leases   map[string]*coord.Lease
	clock    clockwork.Clock
	log      *slog.Logger
	m        *metrics
	limiters map[string]*rate.Limiter
	every    time.Duration
}

func newSweeper(store *zsync.Store, rdb redis.UniversalClient, accounts map[string]*account, cfg config.Presence, replica string,
	clock clockwork.Clock, log *slog.Logger, m *metrics) *sweeper {
	s := &sweeper{store: store, accounts: accounts, cfg: cfg, clock: clock, log: log, m: m, limiters: map[string]*rate.Limiter{},
		leases: map[string]*coord.Lease{}, every: time.Second}
	for id := range accounts {
		s.limiters[id] = rate.NewLimiter(rate.Limit(cfg.ReadsPerSecond), 1)
		s.leases[id] = coord.NewLease(rdb, "presence-sweeper:"+id, coord.LeaseOptions{Owner: replica, Clock: clock, Logger: log})
	}
	return s
}

func (s *sweeper) run(ctx context.Context) {
	var wg conc.WaitGroup
	for id, a := range s.accounts {
		wg.Go(func() { s.runAccount(ctx, id, a) })
	}
	wg.Wait()
}

// runAccount sweeps one account every second while this replica holds
// the account's lease, and tries to take it every second otherwise.
func (s *sweeper) runAccount(ctx context.Context, id string, a *account) {
	for ctx.Err() == nil {
		_, err := s.leases[id].Hold(ctx, func(ctx context.Context, _ coord.Fence) error {
			for {
				if err := s.passAccount(ctx, id, a); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-s.clock.After(s.every):
				}
			}
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("presence sweep failed", slog.String("account_id", id), slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
		case <-s.clock.After(s.every):
		}
	}
}

// passAccount sweeps every partition of one account once.
func (s *sweeper) passAccount(ctx context.Context, id string, a *account) error {
	for p := range s.store.Outbox().Partitions() {
		if err := s.closeLongCalls(ctx, id, p); err != nil {
			return err
		}
		if s.cfg.ReadsPerSecond == 0 {
			continue
		}
		stop, err := s.reread(ctx, id, a, p)
		if err != nil {
			return err
		}
		if stop {
			break // rate limited: the rest of this account waits for the next pass
		}
	}
	return nil
}

func (s *sweeper) closeLongCalls(ctx context.Context, account string, p int) error {
	now := s.clock.Now()
	calls, err := s.store.LongCalls(ctx, account, p, now.Add(-s.cfg.CallMax), 100)
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
		s.log.Warn("call closed: no end event within ZOOMSYNC_CALL_MAX_DURATION", slog.String("account_id", account),
			slog.String("user", c.User), slog.String("call_id", c.CallID), slog.Time("began", c.Began))
	}
	_, err = s.store.ApplyBatch(ctx, ws)
	return err
}

// reread re-reads stale presence in one partition; stop reports that the
// account's rate limit was reached.
func (s *sweeper) reread(ctx context.Context, account string, a *account, p int) (stop bool, err error) {
	users, err := s.store.Stale(ctx, account, p, s.clock.Now().Add(-s.cfg.MaxAge), 20)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		if strings.HasPrefix(u, "e:") { // a pending user without a Zoom id: nothing to read
			if err := s.store.Touch(ctx, account, u, s.clock.Now()); err != nil {
				return false, err
			}
			continue
		}
		if err := s.limiters[account].Wait(ctx); err != nil {
			return true, nil
		}
		asked := s.clock.Now()
		pr, _, err := a.client.Users.GetPresence(ctx, u)
		switch {
		case err == nil:
			v := zsync.PullVersion(asked)
			_, err = s.store.Apply(ctx, zsync.Write{Account: account, UserKey: u, Fields: []zsync.FieldWrite{
				{Name: zsync.FieldZoomStatus, Version: v, Value: pr.Status},
				{Name: zsync.FieldPresence, Version: v, Value: string(presence.ParseZoomStatus(pr.Status))}}})
			if err != nil {
				return false, err
			}
			// A newer webhook may have won every field; the read still
			// confirmed the user now.
			if err := s.store.Touch(ctx, account, u, asked); err != nil {
				return false, err
			}
			s.m.presenceReads.WithLabelValues(account, "ok").Inc()
		case errs.Is(errs.RateLimited, err):
			s.m.presenceReads.WithLabelValues(account, "rate_limited").Inc()
			return true, nil
		case errs.Retryable(err):
			s.m.presenceReads.WithLabelValues(account, "failed").Inc()
			return true, nil
		default: // not found, no permission (5411): do not ask again soon
			s.m.presenceReads.WithLabelValues(account, "refused").Inc()
			s.log.Info("presence read refused", slog.String("account_id", account), slog.String("user", u), slog.String("error", err.Error()))
			if err := s.store.Touch(ctx, account, u, s.clock.Now()); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}
