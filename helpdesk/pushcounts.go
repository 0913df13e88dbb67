package helpdesk

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
)

// PushCounts records push results across replicas (the delivered,
// failed, skipped and dead counts of GET /v1/targets) without a Redis
// round trip per push: Add counts in memory, and Run writes what has
// accumulated in one pipeline of HINCRBYs, one per target and result,
// as soon as the previous write is done. Under load one write carries
// many pushes; when idle a push's count is written at once.
//
// Memory is bounded by the configured targets times the fixed results.
// A failed write keeps its counts and is tried again a second later;
// counts not yet written when the process stops are lost with it (they
// are statistics, not state).
type PushCounts struct {
	rdb    redis.UniversalClient
	clock  clockwork.Clock
	logger *slog.Logger

	mu      sync.Mutex
	pending map[string]int64 // "target:result" → pushes not yet written
	dirty   chan struct{}    // a token when pending holds something
}

// NewPushCounts returns the counter; call Run to write its counts.
func NewPushCounts(rdb redis.UniversalClient, clock clockwork.Clock, logger *slog.Logger) *PushCounts {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PushCounts{rdb: rdb, clock: clock, logger: logger, pending: map[string]int64{}, dirty: make(chan struct{}, 1)}
}

// Add counts one push of targetName with result.
func (c *PushCounts) Add(targetName, result string) {
	c.mu.Lock()
	c.pending[targetName+":"+result]++
	c.mu.Unlock()
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// Run writes the counts as they accumulate until ctx ends, then once
// more (within a second) so that the last pushes' counts are kept.
func (c *PushCounts) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = c.Flush(fctx)
			cancel()
			return
		case <-c.dirty:
		}
		if err := c.Flush(ctx); err != nil && ctx.Err() == nil {
			c.logger.Warn("push counts not written; retrying", slog.String("error", err.Error()))
			select {
			case <-ctx.Done():
			case <-c.clock.After(time.Second):
			}
			select { // what failed is still pending
			case c.dirty <- struct{}{}:
			default:
			}
		}
	}
}

// Flush writes what has accumulated; on failure the counts stay pending.
func (c *PushCounts) Flush(ctx context.Context) error {
	c.mu.Lock()
	taken := c.pending
	if len(taken) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.pending = make(map[string]int64, len(taken))
	c.mu.Unlock()
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for field, n := range taken {
			p.HIncrBy(ctx, targetCountsKey(), field, n)
		}
		return nil
	})
	if err != nil {
		// A pipeline that failed part-way may have written some of its
		// increments: counting them again over-counts a little, which is
		// better than losing them all.
		c.mu.Lock()
		for field, n := range taken {
			c.pending[field] += n
		}
		c.mu.Unlock()
	}
	return err
}
