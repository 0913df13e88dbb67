package graphapi

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Budget paces presence calls of one app in one tenant: Graph allows
// 1,500 presence requests per 30 s per app per tenant.
type Budget interface {
	// Take blocks until at least one of n calls may be sent and returns how
	// many may be sent now (1..n).
	Take(ctx context.Context, n int) (int, error)
	// Hold stops every caller until t (Graph answered 429 Retry-After).
	Hold(ctx context.Context, t time.Time)
}

// Graph's documented presence limit.
const (
	PresenceLimit  = 1500
	PresenceWindow = 30 * time.Second
)

// slot is the budget's unit of time: calls are counted per whole second
// of the sender's clock.
const slot = time.Second

// PerSlot is how many calls a budget of limit per window allows in one
// second so that no window of Graph's — sliding, and seeing calls up to a
// second after they were counted (network and queueing) — holds more
// than limit: any window touches at most window/1s + 2 seconds of counts.
func PerSlot(limit int, window time.Duration) int {
	return max(1, limit/(int(window/slot)+2))
}

// LocalBudget is a Budget for one process.
type LocalBudget struct {
	clock clockwork.Clock
	cap   int

	mu        sync.Mutex
	slot      int64
	used      int
	heldUntil time.Time
}

// NewLocalBudget returns a budget of limit calls per window (0: Graph's
// presence limit; negative: unlimited) for one process.
func NewLocalBudget(clock clockwork.Clock, limit int, window time.Duration) *LocalBudget {
	if limit == 0 {
		limit, window = PresenceLimit, PresenceWindow
	}
	b := &LocalBudget{clock: clock, cap: -1}
	if limit > 0 {
		b.cap = PerSlot(limit, window)
	}
	return b
}

// Take implements Budget.
func (b *LocalBudget) Take(ctx context.Context, n int) (int, error) {
	for {
		now := b.clock.Now()
		b.mu.Lock()
		wait := b.heldUntil.Sub(now)
		granted := 0
		if wait <= 0 {
			if b.cap < 0 {
				b.mu.Unlock()
				return n, nil
			}
			s := now.UnixNano() / int64(slot)
			if s != b.slot {
				b.slot, b.used = s, 0
			}
			granted = min(n, b.cap-b.used)
			if granted > 0 {
				b.used += granted
			} else {
				wait = time.Unix(0, (s+1)*int64(slot)).Sub(now)
			}
		}
		b.mu.Unlock()
		if granted > 0 {
			return granted, nil
		}
		if err := waitFor(ctx, b.clock, now, wait); err != nil {
			return 0, err
		}
	}
}

// Hold implements Budget.
func (b *LocalBudget) Hold(_ context.Context, t time.Time) {
	b.mu.Lock()
	if t.After(b.heldUntil) {
		b.heldUntil = t
	}
	b.mu.Unlock()
}

// RedisBudget is a Budget shared by every replica through Redis: Graph's
// limit is per app and tenant, not per process. Times come from the
// replicas' clocks (injected; NTP-close in production), not from Redis's,
// so tests drive it with a fake clock. Two keys per app and tenant, both
// bounded: the current second's count and the hold.
//
// Written out rather than taken from redis_rate: that library's GCRA
// reads Redis's TIME, which a test clock cannot move.
type RedisBudget struct {
	rdb        redis.UniversalClient
	clock      clockwork.Clock
	cap        int
	count, hld string
}

// NewRedisBudget returns the budget of limit calls per window (0: Graph's
// presence limit) for the app and tenant named by id.
func NewRedisBudget(rdb redis.UniversalClient, clock clockwork.Clock, id string, limit int, window time.Duration) *RedisBudget {
	if limit <= 0 {
		limit, window = PresenceLimit, PresenceWindow
	}
	tag := "zs:{graph:" + id + "}"
	return &RedisBudget{rdb: rdb, clock: clock, cap: PerSlot(limit, window), count: tag + ":slot", hld: tag + ":hold"}
}

// takeScript grants up to ARGV[3] calls in second ARGV[1] (cap ARGV[2]),
// unless the budget is held past ARGV[4] (ms): then it answers minus the
// hold's end. A count of a later second (a replica whose clock runs ahead)
// counts as full.
// KEYS: 1 count ("second:used"), 2 hold (ms).
var takeScript = redis.NewScript(`
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held > tonumber(ARGV[4]) then return -held end
local s, cap, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local used = 0
local cur = redis.call('GET', KEYS[1])
if cur then
  local cs, cu = string.match(cur, '^(%d+):(%d+)$')
  cs, cu = tonumber(cs), tonumber(cu)
  if cs == s then used = cu elseif cs and cs > s then used = cap end
end
local grant = math.min(want, cap - used)
if grant <= 0 then return 0 end
redis.call('SET', KEYS[1], s .. ':' .. (used + grant), 'PX', 60000)
return grant
`)

// Take implements Budget.
func (b *RedisBudget) Take(ctx context.Context, n int) (int, error) {
	for {
		now := b.clock.Now()
		s := now.UnixNano() / int64(slot)
		g, err := takeScript.Run(ctx, b.rdb, []string{b.count, b.hld}, s, b.cap, n, now.UnixMilli()).Int64()
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, errs.E("graphapi.RedisBudget.Take", errs.Unavailable, err)
		}
		var wait time.Duration
		switch {
		case g > 0:
			return int(g), nil
		case g < 0:
			wait = time.UnixMilli(-g).Sub(now)
		default:
			wait = time.Unix(0, (s+1)*int64(slot)).Sub(now)
		}
		if err := waitFor(ctx, b.clock, now, max(wait, time.Millisecond)); err != nil {
			return 0, err
		}
	}
}

// holdScript moves the hold to ARGV[1] (ms) unless it is later already.
var holdScript = redis.NewScript(`
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// Hold implements Budget. A Redis error is ignored: the 429 itself is
// retried after its Retry-After anyway.
func (b *RedisBudget) Hold(ctx context.Context, t time.Time) {
	ttl := t.Sub(b.clock.Now()) + time.Minute
	_ = holdScript.Run(ctx, b.rdb, []string{b.hld}, strconv.FormatInt(t.UnixMilli(), 10), ttl.Milliseconds()).Err()
}

// String names the budget's keys (for logs).
func (b *RedisBudget) String() string { return fmt.Sprintf("redis budget %s (%d/s)", b.count, b.cap) }

// waitFor waits d for the budget, or answers RateLimited with the time
// when d would outlast ctx's deadline: the caller (a push with its
// timeout) is rescheduled for then instead of failing at its deadline.
func waitFor(ctx context.Context, clock clockwork.Clock, now time.Time, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && d >= time.Until(dl) {
		return &Error{Op: "graphapi.Budget", Kind: errs.RateLimited, RetryAt: now.Add(d),
			Message: "the presence budget for this app and tenant is spent until then"}
	}
	return sleep(ctx, clock, d)
}

// sleep waits d on the clock or until ctx ends.
func sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.Chan():
		return nil
	}
}
