package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/adhocore/gronx"
	"github.com/jonboulle/clockwork"
)

// scheduler starts a resync on every tick of ZOOMSYNC_RESYNC_SCHEDULE.
// Every replica runs one; the resync's lease lets exactly one of them run
// each time, and its deletions stop the moment it no longer holds it.
type scheduler struct {
	schedule string // 5-field cron, UTC
	clock    clockwork.Clock
	logger   *slog.Logger
	// start runs one resync (under the lease) and returns when it ends.
	start func(ctx context.Context) error
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
		if err := s.start(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.logger.Error("scheduled resync failed", slog.String("error", err.Error()))
		}
	}
}
