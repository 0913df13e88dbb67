package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/adhocore/gronx"
	"github.com/jonboulle/clockwork"

	zsync "github.com/zoomsync/zoomsync/sync"
)

// scheduler runs the full resync on ZOOMSYNC_RESYNC_SCHEDULE. Every
// replica runs one; the lease lets exactly one of them run each time, and
// its deletions stop the moment it no longer holds the lease.
type scheduler struct {
	schedule string // 5-field cron, UTC
	lease    *zsync.Lease
	clock    clockwork.Clock
	logger   *slog.Logger
	// resync runs one resync of every account; beforeDelete fences it.
	resync func(ctx context.Context, beforeDelete func(context.Context) error) error
	// ran, if set, is told about every tick: whether this replica ran it.
	ran func(ran bool, err error)
}

// run waits for each tick of the schedule until ctx ends.
func (s *scheduler) run(ctx context.Context) {
	for {
		now := s.clock.Now().UTC()
		next, err := gronx.NextTickAfter(s.schedule, now, false)
		if err != nil {
			s.logger.Error("resync schedule has no next run; scheduled resyncs stop", slog.String("schedule", s.schedule), slog.String("error", err.Error()))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(next.Sub(now)):
		}
		s.tick(ctx)
	}
}

// tick runs one scheduled resync if this replica gets the lease.
func (s *scheduler) tick(ctx context.Context) {
	start := s.clock.Now()
	ran, err := s.lease.Hold(ctx, func(ctx context.Context, f zsync.Fence) error {
		s.logger.Info("scheduled resync starting", slog.Int64("lease_token", f.Token))
		return s.resync(ctx, func(ctx context.Context) error { return s.lease.Check(ctx, f) })
	})
	switch {
	case !ran && err == nil:
		s.logger.Debug("scheduled resync runs on another replica")
	case errors.Is(err, zsync.ErrLeaseLost):
		s.logger.Error("scheduled resync stopped: lease lost to another replica", slog.String("error", err.Error()))
	case err != nil:
		s.logger.Error("scheduled resync failed", slog.String("error", err.Error()), slog.Duration("duration", s.clock.Since(start)))
	default:
		s.logger.Info("scheduled resync finished", slog.Duration("duration", s.clock.Since(start).Round(time.Millisecond)))
	}
	if s.ran != nil {
		s.ran(ran, err)
	}
}
