package zsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Lease elects one replica for singleton work (the scheduled resync). It
// is a Redis key holding "owner:token" with a TTL; the token comes from a
// counter that only grows, so it fences: a replica whose lease expired and
// was taken over holds a smaller token than the new holder, and Check
// tells it to stop before it writes anything the new holder may also do.
//
// Invariants:
//   - At most one holder at a time (SET NX PX in the acquiring script).
//   - Tokens strictly increase across acquisitions.
//   - Renew, Release and Check act only for the exact owner and token.
type Lease struct {
	rdb    redis.UniversalClient
	key    string
	fence  string
	owner  string
	ttl    time.Duration
	clock  clockwork.Clock
	logger *slog.Logger
}

// LeaseOptions configure NewLease.
type LeaseOptions struct {
	Owner  string        // this replica's identity
	TTL    time.Duration // default 30 s; renewed every TTL/3 while held
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Fence identifies one acquisition.
type Fence struct {
	Owner string
	Token int64
}

func (f Fence) value() string { return f.Owner + ":" + strconv.FormatInt(f.Token, 10) }

// ErrLeaseLost means the lease expired or another replica holds it now.
var ErrLeaseLost = errs.E("zsync.Lease", errs.Stale, errors.New("lease lost to another replica"))

// NewLease returns the lease called name.
func NewLease(rdb redis.UniversalClient, name string, opts LeaseOptions) *Lease {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	key := "zs:{lease:" + name + "}"
	return &Lease{rdb: rdb, key: key, fence: key + ":fence", owner: opts.Owner, ttl: opts.TTL, clock: opts.Clock, logger: opts.Logger}
}

// acquireScript: KEYS[1] lease, KEYS[2] fence counter; ARGV[1] owner,
// ARGV[2] TTL ms. Returns the new token, or 0 when someone holds it.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
`)

// renewScript: KEYS[1] lease; ARGV[1] "owner:token", ARGV[2] TTL ms.
// Returns 1 when extended, 0 when not held by that fence.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseScript: KEYS[1] lease; ARGV[1] "owner:token". Deletes only our own.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`)

// TryAcquire takes the lease if nobody holds it.
func (l *Lease) TryAcquire(ctx context.Context) (Fence, bool, error) {
	token, err := acquireScript.Run(ctx, l.rdb, []string{l.key, l.fence}, l.owner, l.ttl.Milliseconds()).Int64()
	if err != nil {
		return Fence{}, false, unavailable("zsync.Lease.TryAcquire", err)
	}
	if token == 0 {
		return Fence{}, false, nil
	}
	return Fence{Owner: l.owner, Token: token}, true, nil
}

// Renew extends the lease held by f.
func (l *Lease) Renew(ctx context.Context, f Fence) error {
	ok, err := renewScript.Run(ctx, l.rdb, []string{l.key}, f.value(), l.ttl.Milliseconds()).Int()
	if err != nil {
		return unavailable("zsync.Lease.Renew", err)
	}
	if ok == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Release gives the lease up if f still holds it.
func (l *Lease) Release(ctx context.Context, f Fence) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, f.value()).Err(); err != nil {
		return unavailable("zsync.Lease.Release", err)
	}
	return nil
}

// Check returns nil only while f holds the lease: call it before each
// write that only the holder may make.
func (l *Lease) Check(ctx context.Context, f Fence) error {
	v, err := l.rdb.Get(ctx, l.key).Result()
	if errors.Is(err, redis.Nil) {
		return ErrLeaseLost
	}
	if err != nil {
		return unavailable("zsync.Lease.Check", err)
	}
	if v != f.value() {
		return ErrLeaseLost
	}
	return nil
}

// Holder reports who holds the lease, "" when nobody does.
func (l *Lease) Holder(ctx context.Context) (Fence, error) {
	v, err := l.rdb.Get(ctx, l.key).Result()
	if errors.Is(err, redis.Nil) {
		return Fence{}, nil
	}
	if err != nil {
		return Fence{}, unavailable("zsync.Lease.Holder", err)
	}
	i := strings.LastIndexByte(v, ':')
	token, _ := strconv.ParseInt(v[i+1:], 10, 64)
	return Fence{Owner: v[:i], Token: token}, nil
}

// WithOwner returns the same lease acting for another owner. The owner is
// part of the lease's value, so one acquisition per piece of work (a
// resync run) can name that work to whoever finds the lease taken.
func (l *Lease) WithOwner(owner string) *Lease {
	c := *l
	c.owner = owner
	return &c
}

// Hold runs fn while holding the lease: it returns (false, nil) at once if
// another replica holds it; otherwise fn runs with a context that is
// cancelled as soon as a renewal (every TTL/3) fails, and the lease is
// released when fn returns.
func (l *Lease) Hold(ctx context.Context, fn func(ctx context.Context, f Fence) error) (bool, error) {
	f, ok, err := l.TryAcquire(ctx)
	if err != nil || !ok {
		return false, err
	}
	return true, l.Keep(ctx, f, fn)
}

// Keep runs fn for an acquisition TryAcquire made (which may have been in
// another goroutine: a request that must answer before the work ends):
// fn's context is cancelled as soon as a renewal (every TTL/3) fails, and
// the lease is released when fn returns, also when ctx ended meanwhile.
func (l *Lease) Keep(ctx context.Context, f Fence, fn func(ctx context.Context, f Fence) error) error {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := l.clock.NewTicker(l.ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.Chan():
				if err := l.Renew(runCtx, f); err != nil {
					if runCtx.Err() == nil {
						l.logger.Warn("lease renewal failed; stopping the work it guards",
							slog.String("lease", l.key), slog.Int64("token", f.Token), slog.String("error", err.Error()))
						cancel(fmt.Errorf("%w: %v", ErrLeaseLost, err))
					}
					return
				}
			}
		}
	}()
	err := fn(runCtx, f)
	// Work stopped because the lease was lost reports that, not the bare
	// cancellation it saw.
	if cause := context.Cause(runCtx); errors.Is(cause, ErrLeaseLost) && (err == nil || errors.Is(err, context.Canceled)) {
		err = cause
	}
	cancel(nil)
	<-renewed
	releaseCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer done()
	_ = l.Release(releaseCtx, f)
	return err
}
