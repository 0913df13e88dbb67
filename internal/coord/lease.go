package coord

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/luascript"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

//go:embed *.lua
var scripts embed.FS

// The lease scripts' slots.
type (
	leaseKeys struct {
		Lease string `lua:"lease"`
	}
	acquireKeys struct {
		Lease string `lua:"lease"`
		Fence string `lua:"fence"` // the token counter
	}
	acquireArgs struct {
		Owner string `lua:"owner"`
		TTLMS int64  `lua:"ttlMS"`
	}
	renewArgs struct {
		Holder string `lua:"holder"` // "owner:token"
		TTLMS  int64  `lua:"ttlMS"`
	}
	releaseArgs struct {
		Holder string `lua:"holder"`
	}
)

var (
	acquireScript = luascript.New[acquireKeys, acquireArgs](scripts, nil, "lease_acquire.lua")
	renewScript   = luascript.New[leaseKeys, renewArgs](scripts, nil, "lease_renew.lua")
	releaseScript = luascript.New[leaseKeys, releaseArgs](scripts, nil, "lease_release.lua")
)

// LeaseKey is the Redis key of the lease called name.
func LeaseKey(name string) string { return "zs:{lease:" + name + "}" }

// Lease elects one replica for a piece of work that needs one owner at a
// time (a resync, the mapping, a presence sweep, one outbox partition).
// It is a Redis key holding "owner:token" with a TTL; the token comes
// from a counter that only grows, so it fences: a replica whose lease
// expired and was taken over holds a smaller token than the new holder,
// and Check tells it to stop before it writes anything the new holder may
// also do.
type Lease struct {
	rdb    redis.UniversalClient
	key    string
	fence  string
	owner  string
	ttl    time.Duration
	clock  clockwork.Clock
	logger *slog.Logger
}

// LeaseOptions configure a Lease.
type LeaseOptions struct {
	Owner  string        // this replica's (or this piece of work's) identity
	TTL    time.Duration // default 30 s; a kept lease is renewed every TTL/3
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
var ErrLeaseLost = errs.E("coord.Lease", errs.Stale, errors.New("lease lost to another replica"))

// NewLease returns the lease called name (at LeaseKey(name)).
func NewLease(rdb redis.UniversalClient, name string, opts LeaseOptions) *Lease {
	return NewLeaseAt(rdb, LeaseKey(name), opts)
}

// NewLeaseAt returns a lease at key, which the caller's keyspace names
// (its hash tag keeps it in the slot of what it guards).
func NewLeaseAt(rdb redis.UniversalClient, key string, opts LeaseOptions) *Lease {
	if opts.TTL <= 0 {
		opts.TTL = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Lease{rdb: rdb, key: key, fence: key + ":fence", owner: opts.Owner, ttl: opts.TTL, clock: opts.Clock, logger: opts.Logger}
}

// Owner is whom the lease acts for.
func (l *Lease) Owner() string { return l.owner }

// TTL is the lease's time to live.
func (l *Lease) TTL() time.Duration { return l.ttl }

// WithOwner returns the same lease acting for another owner. The owner is
// part of the lease's value, so one acquisition per piece of work (a
// resync run) can name that work to whoever finds the lease taken.
func (l *Lease) WithOwner(owner string) *Lease {
	c := *l
	c.owner = owner
	return &c
}

// TryAcquire takes the lease if nobody holds it; nothing renews it (see
// Acquire and Keep).
func (l *Lease) TryAcquire(ctx context.Context) (Fence, bool, error) {
	token, err := acquireScript.Run(ctx, l.rdb, acquireKeys{l.key, l.fence}, acquireArgs{l.owner, l.ttl.Milliseconds()}).Int64()
	if err != nil {
		return Fence{}, false, redisconn.Classify("coord.Lease.TryAcquire", err)
	}
	if token == 0 {
		return Fence{}, false, nil
	}
	return Fence{Owner: l.owner, Token: token}, true, nil
}

// Renew extends the lease held by f.
func (l *Lease) Renew(ctx context.Context, f Fence) error {
	ok, err := renewScript.Run(ctx, l.rdb, leaseKeys{l.key}, renewArgs{f.value(), l.ttl.Milliseconds()}).Int()
	if err != nil {
		return redisconn.Classify("coord.Lease.Renew", err)
	}
	if ok == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Release gives the lease up if f still holds it.
func (l *Lease) Release(ctx context.Context, f Fence) error {
	if err := releaseScript.Run(ctx, l.rdb, leaseKeys{l.key}, releaseArgs{f.value()}).Err(); err != nil {
		return redisconn.Classify("coord.Lease.Release", err)
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
		return redisconn.Classify("coord.Lease.Check", err)
	}
	if v != f.value() {
		return ErrLeaseLost
	}
	return nil
}

// Holder reports who holds the lease, the zero Fence when nobody does.
func (l *Lease) Holder(ctx context.Context) (Fence, error) {
	v, err := l.rdb.Get(ctx, l.key).Result()
	if errors.Is(err, redis.Nil) {
		return Fence{}, nil
	}
	if err != nil {
		return Fence{}, redisconn.Classify("coord.Lease.Holder", err)
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return Fence{Owner: v}, nil // not written by Lease: someone holds it
	}
	token, _ := strconv.ParseInt(v[i+1:], 10, 64)
	return Fence{Owner: v[:i], Token: token}, nil
}

// Held is an acquisition renewed in the background until it is released
// or lost.
type Held struct {
	lease  *Lease
	fence  Fence
	ctx    context.Context
	cancel context.CancelCauseFunc
	parent context.Context
	done   chan struct{} // closed when the renewing goroutine ends
	once   sync.Once
}

// Acquire takes the lease if nobody holds it and keeps it renewed every
// TTL/3 until Release, a failed renewal (Lost), or ctx ends. It returns
// nil, nil when another replica holds it.
func (l *Lease) Acquire(ctx context.Context) (*Held, error) {
	f, ok, err := l.TryAcquire(ctx)
	if err != nil || !ok {
		return nil, err
	}
	return l.keep(ctx, f), nil
}

// keep starts renewing the acquisition f.
func (l *Lease) keep(ctx context.Context, f Fence) *Held {
	hctx, cancel := context.WithCancelCause(ctx)
	h := &Held{lease: l, fence: f, ctx: hctx, cancel: cancel, parent: ctx, done: make(chan struct{})}
	go h.renew()
	return h
}

func (h *Held) renew() {
	defer close(h.done)
	l := h.lease
	tick := l.clock.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.Chan():
			if err := l.Renew(h.ctx, h.fence); err != nil {
				if h.ctx.Err() == nil {
					l.logger.Warn("lease renewal failed; stopping the work it guards",
						slog.String("lease", l.key), slog.Int64("token", h.fence.Token), slog.String("error", err.Error()))
					h.cancel(fmt.Errorf("%w: %v", ErrLeaseLost, err))
				}
				return
			}
		}
	}
}

// Fence is the acquisition's owner and token.
func (h *Held) Fence() Fence { return h.fence }

// Context is cancelled when the lease is lost (its cause wraps
// ErrLeaseLost), released, or the context Acquire got ends: work that
// only the holder may do runs with it.
func (h *Held) Context() context.Context { return h.ctx }

// Lost is closed once the work must stop (see Context).
func (h *Held) Lost() <-chan struct{} { return h.ctx.Done() }

// Err is ErrLeaseLost (wrapped) once a renewal failed, the context's
// error once it ended, nil while held.
func (h *Held) Err() error {
	if cause := context.Cause(h.ctx); cause != nil {
		return cause
	}
	return nil
}

// Release stops renewing and gives the lease up (if still ours), also
// when the context Acquire got has ended; it waits at most 2 s for Redis.
func (h *Held) Release() error {
	var err error
	h.once.Do(func() {
		h.cancel(nil)
		<-h.done
		rctx, done := context.WithTimeout(context.WithoutCancel(h.parent), 2*time.Second)
		defer done()
		err = h.lease.Release(rctx, h.fence)
	})
	return err
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
	h := l.keep(ctx, f)
	err := fn(h.Context(), f)
	// Work stopped because the lease was lost reports that, not the bare
	// cancellation it saw.
	if cause := h.Err(); errors.Is(cause, ErrLeaseLost) && (err == nil || errors.Is(err, context.Canceled)) {
		err = cause
	}
	_ = h.Release()
	return err
}
