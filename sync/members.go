package zsync

import (
	"context"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
)

// membersKey holds the live replicas for inbox work: member → when its
// heartbeat expires (Unix ms).
const membersKey = "zs:{members}"

// MembersOptions configure Members.
type MembersOptions struct {
	TTL    time.Duration // a member not heard of for this long is gone; 0: 3s
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// Members keeps this replica in the live set in Redis and tracks the
// others, so that inbox partitions each have one preferred reader: the
// preferred consumer of a partition blocks on its stream and reads it in
// large batches; the others only look now and then and take what it left
// (it died, or is slow). Without a preference every replica's consumer
// blocks on every stream and each new entry wakes a different one: reads
// of one or two entries, and a third more Redis work per event with three
// replicas (BenchmarkScaleOut).
//
// Preference is advice, not a lock: every replica computes it from its
// own view of the live set, views may differ for a heartbeat, and then a
// partition has two readers (as without preference) or, for at most a
// standby poll interval, none. Correctness never depends on it — the
// consumer group hands each entry to one reader and the apply is
// versioned.
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

// Run heartbeats every TTL/3 and refreshes the live set until ctx ends,
// then leaves the set so that others take this replica's partitions at
// once.
func (m *Members) Run(ctx context.Context) {
	tick := m.opts.Clock.NewTicker(m.opts.TTL / 3)
	defer tick.Stop()
	for {
		if err := m.beat(ctx); err != nil && ctx.Err() == nil {
			m.opts.Logger.Debug("membership heartbeat failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			leaveCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = m.rdb.ZRem(leaveCtx, membersKey, m.name).Err()
			cancel()
			return
		case <-tick.Chan():
		}
	}
}

func (m *Members) beat(ctx context.Context) error {
	now := m.opts.Clock.Now().UnixMilli()
	var live *redis.StringSliceCmd
	_, err := m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, membersKey, redis.Z{Score: float64(now + m.opts.TTL.Milliseconds()), Member: m.name})
		p.ZRemRangeByScore(ctx, membersKey, "-inf", strconv.FormatInt(now, 10))
		live = p.ZRange(ctx, membersKey, 0, -1)
		return nil
	})
	if err != nil {
		return unavailable("zsync.Members", err)
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

// Prefers reports whether this replica is the preferred reader of an
// account's partition: partitions are dealt round the sorted live set,
// starting at a place that depends on the account, so each replica gets
// an even share. Without a recent view of the live set (Redis
// unreachable, not started) every replica prefers every partition, as if
// there were no preference.
func (m *Members) Prefers(account string, partition int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.live) == 0 || m.opts.Clock.Since(m.fresh) > m.opts.TTL {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	return m.live[(int(h.Sum32()%1024)+partition)%len(m.live)] == m.name
}
