package coord

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/fnv1a"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// MembersKey holds the live replicas: member → when its heartbeat
// expires (Unix ms).
const MembersKey = "zs:{members}"

// MembersOptions configure Members.
type MembersOptions struct {
	TTL    time.Duration // a member not heard of for this long is gone; 0: 3s
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Members keeps this replica in the live set in Redis and tracks the
// others. Work split among replicas reads it: the inbox partitions each
// have one preferred reader (Prefers), and the outbox partitions are
// shared by the live count (FairShare).
//
// Preference is advice, not a lock: every replica computes it from its
// own view of the live set, views may differ for a heartbeat, and then a
// partition has two readers or, for a moment, none. Correctness never
// depends on it.
type Members struct {
	rdb   redis.UniversalClient
	name  string
	opts  MembersOptions
	mu    sync.Mutex
	live  []string  // sorted
	fresh time.Time // when live was read
}

// NewMembers returns the membership of replica name.
func NewMembers(rdb redis.UniversalClient, name string, opts MembersOptions) *Members {
	if opts.TTL <= 0 {
		opts.TTL = 3 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Members{rdb: rdb, name: name, opts: opts}
}

// Name is this replica's name in the set.
func (m *Members) Name() string { return m.name }

// Run heartbeats every TTL/3 and refreshes the live set until ctx ends,
// then leaves the set so that others take this replica's work at once.
func (m *Members) Run(ctx context.Context) {
	tick := m.opts.Clock.NewTicker(m.opts.TTL / 3)
	defer tick.Stop()
	for {
		if err := m.Beat(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.Debug("membership heartbeat failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = m.rdb.ZRem(leaveCtx, MembersKey, m.name).Err()
			cancel()
			return
		case <-tick.Chan():
		}
	}
}

// Beat records this replica as alive for a TTL, drops members whose
// heartbeat expired and reads the live set (Run does it every TTL/3).
func (m *Members) Beat(ctx context.Context) error {
	now := m.opts.Clock.Now().UnixMilli()
	var live *redis.StringSliceCmd
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, MembersKey, redis.Z{Score: float64(now + m.opts.TTL.Milliseconds()), Member: m.name})
		p.ZRemRangeByScore(ctx, MembersKey, "-inf", strconv.FormatInt(now, 10))
		live = p.ZRange(ctx, MembersKey, 0, -1)
		return nil
	})
	if err != nil {
		return redisconn.Classify("coord.Members", err)
	}
	names := live.Val()
	slices.Sort(names)
	m.mu.Lock()
	m.live, m.fresh = names, m.opts.Clock.Now()
	m.mu.Unlock()
	return nil
}

// Live is the live set as last read (sorted).
func (m *Members) Live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.live)
}

// Count is how many replicas are alive, from a view younger than a TTL;
// 0 when there is no such view (Redis unreachable, not started).
func (m *Members) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opts.Clock.Since(m.fresh) > m.opts.TTL {
		return 0
	}
	return len(m.live)
}

// Prefers reports whether this replica is the preferred reader of an
// account's partition: partitions are dealt round the sorted live set,
// starting at a place that depends on the account, so each replica gets
// an even share. Without a recent view of the live set every replica
// prefers every partition, as if there were no preference.
func (m *Members) Prefers(account string, partition int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.live) == 0 || m.opts.Clock.Since(m.fresh) > m.opts.TTL {
		return true
	}
	return m.live[(int(fnv1a.Sum32(account)%1024)+partition)%len(m.live)] == m.name
}
