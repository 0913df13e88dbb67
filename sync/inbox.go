package zsync

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// Inbox appends verified webhooks to Redis streams before they are
// acknowledged to Zoom. Concurrent Enqueue calls are group-committed: a
// single writer sends whatever has queued up as one pipeline, so a burst of
// webhooks costs one round trip instead of one each, and every caller
// still returns only after its own XADD succeeded.
type Inbox struct {
	rdb        redis.UniversalClient
	keys       keyspace
	partitions int
	logger     *slog.Logger
	maxBatch   int

	minReplicas    int
	replicaTimeout time.Duration

	reqs chan *appendReq
	done chan struct{}

	flushes atomic.Int64 // pipelines sent: fewer than appends under load
}

type appendReq struct {
	ctx    context.Context
	stream string
	values []any // field, value, …
	err    chan error
}

// InboxOptions configure NewInbox.
type InboxOptions struct {
	// Partitions is the number of inbox streams per account, one per state
	// partition; it must equal the Store's (0: DefaultPartitions).
	Partitions int
	MaxBatch   int // appends per pipeline; 0: 256
	Logger     *slog.Logger
	// MinReplicas: an append succeeds only once this many replicas have
	// it (WAIT in the same pipeline, up to ReplicaTimeout, default 1 s).
	// On a Redis Cluster each master's part of a batch waits for that
	// master's replicas.
	MinReplicas    int
	ReplicaTimeout time.Duration
}

// NewInbox returns an inbox; call Run to start its writer.
func NewInbox(rdb redis.UniversalClient, opts InboxOptions) *Inbox {
	if opts.Partitions <= 0 {
		opts.Partitions = DefaultPartitions
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReplicaTimeout <= 0 {
		opts.ReplicaTimeout = time.Second
	}
	return &Inbox{rdb: rdb, keys: keyspace{partitions: opts.Partitions}, partitions: opts.Partitions, logger: opts.Logger, maxBatch: opts.MaxBatch,
		minReplicas: opts.MinReplicas, replicaTimeout: opts.ReplicaTimeout,
		reqs: make(chan *appendReq, opts.MaxBatch), done: make(chan struct{})}
}

// errInboxClosed is returned when the writer has stopped.
var errInboxClosed = errs.E("zsync.Inbox", errs.Unavailable, errors.New("inbox is shutting down"))

// Enqueue implements webhook.Sink: it returns nil only once the delivery
// is in a Redis stream.
func (in *Inbox) Enqueue(ctx context.Context, d webhook.Delivery) error {
	key := d.Event.UserID()
	n := in.keys.partition(key)
	req := &appendReq{
		ctx:    ctx,
		stream: in.keys.inbox(d.AccountID, n),
		values: []any{
			"account", d.AccountID,
			"event", d.Event.Name,
			"user", key,
			"received_ms", strconv.FormatInt(d.ReceivedAt.UnixMilli(), 10),
			"request_id", d.RequestID,
			"intake", intake(d.Intake),
			"body", d.Event.Raw,
		},
		err: make(chan error, 1),
	}
	select {
	case in.reqs <- req:
	case <-in.done:
		return errInboxClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.err:
		return err
	case <-in.done:
		select {
		case err := <-req.err: // written just before the writer stopped
			return err
		default:
			return errInboxClosed
		}
	case <-ctx.Done():
		// The append may still happen; Zoom will retry and the version gate
		// makes the duplicate harmless.
		return ctx.Err()
	}
}

// intake names how a delivery arrived (an entry field, for incidents).
func intake(s string) string {
	if s == "" {
		return webhook.IntakeWebhook
	}
	return s
}

// Run writes queued appends until ctx ends, then fails what is left.
func (in *Inbox) Run(ctx context.Context) error {
	defer close(in.done)
	batch := make([]*appendReq, 0, in.maxBatch)
	for {
		select {
		case <-ctx.Done():
			in.drainFailed()
			return nil
		case r := <-in.reqs:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < in.maxBatch {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		in.flush(ctx, batch)
	}
}

// flush sends one pipeline of XADDs and answers each caller.
func (in *Inbox) flush(ctx context.Context, batch []*appendReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.err <- r.ctx.Err() // the caller gave up; Zoom will retry
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	in.flushes.Add(1)
	if cc, ok := in.rdb.(*redis.ClusterClient); ok && in.minReplicas > 0 {
		in.flushByMaster(ctx, cc, live)
		return
	}
	in.flushOn(ctx, in.rdb, live)
}

// flushOn sends one pipeline of XADDs (and the WAIT, when replicas are
// required) through c and answers each caller.
func (in *Inbox) flushOn(ctx context.Context, c redis.Cmdable, live []*appendReq) {
	cmds := make([]*redis.StringCmd, len(live))
	var wait *redis.Cmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range live {
			cmds[i] = p.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, Values: r.values})
		}
		if in.minReplicas > 0 {
			// Same connection as the appends: WAIT counts replicas that
			// have everything this connection wrote.
			wait = p.Do(ctx, "WAIT", in.minReplicas, in.replicaTimeout.Milliseconds())
		}
		return nil
	})
	var notReplicated error
	if wait != nil {
		if n, werr := wait.Int(); werr != nil || n < in.minReplicas {
			notReplicated = errs.Errorf("zsync.Inbox.Enqueue", errs.Unavailable, "only %d of %d replicas have the entries (ZOOMSYNC_REDIS_MIN_REPLICAS)", n, in.minReplicas)
		}
	}
	for i, r := range live {
		if e := cmds[i].Err(); e != nil {
			r.err <- unavailable("zsync.Inbox.Enqueue", e)
			continue
		}
		if notReplicated != nil {
			r.err <- notReplicated // Zoom retries; the entry, if it survives, is a harmless duplicate
			continue
		}
		r.err <- nil
	}
	if err != nil {
		in.logger.Warn("inbox append failed; webhooks answered 503", slog.Int("batch", len(live)), slog.String("error", err.Error()))
	}
}

// flushByMaster splits a batch by the Cluster master owning each stream
// and sends each part, with its WAIT, on that master's connection: a WAIT
// only counts the replicas of the node it reaches.
func (in *Inbox) flushByMaster(ctx context.Context, cc *redis.ClusterClient, live []*appendReq) {
	parts := map[*redis.Client][]*appendReq{}
	for _, r := range live {
		node, err := cc.MasterForKey(ctx, r.stream)
		if err != nil {
			r.err <- unavailable("zsync.Inbox.Enqueue", err)
			continue
		}
		parts[node] = append(parts[node], r)
	}
	var wg sync.WaitGroup
	for node, reqs := range parts {
		wg.Add(1)
		go func() { defer wg.Done(); in.flushOn(ctx, node, reqs) }()
	}
	wg.Wait()
}

func (in *Inbox) drainFailed() {
	for {
		select {
		case r := <-in.reqs:
			r.err <- errInboxClosed
		default:
			return
		}
	}
}

// Flushes is how many pipelines the writer has sent.
func (in *Inbox) Flushes() int64 { return in.flushes.Load() }

// Partitions is the number of inbox streams per account.
func (in *Inbox) Partitions() int { return in.partitions }

// Streams lists an account's inbox streams.
func (in *Inbox) Streams(account string) []string {
	out := make([]string, in.partitions)
	for i := range out {
		out[i] = in.keys.inbox(account, i)
	}
	return out
}

// StreamStats describe one inbox stream for monitoring.
type StreamStats struct {
	Stream      string // the Redis key (for logs; never a metrics label)
	Partition   int
	Lag         int64 // entries not yet delivered to any consumer
	Pending     int64 // delivered, not yet acknowledged
	DeadLetters int64
}

// lagCountLimit bounds the entries Stats counts itself when Redis does
// not say how many the group has not been handed (see groupLag).
const lagCountLimit = 10_000

// Stats reads the state of an account's inbox streams.
func (in *Inbox) Stats(ctx context.Context, account string) ([]StreamStats, error) {
	var out []StreamStats
	for i, s := range in.Streams(account) {
		st := StreamStats{Stream: s, Partition: i}
		groups, err := in.rdb.XInfoGroups(ctx, s).Result()
		if err := redisconn.Classify("zsync.Inbox.Stats", err); err != nil && !errs.Is(errs.NotFound, err) {
			return nil, unavailable("zsync.Inbox.Stats", err)
		}
		for _, g := range groups {
			if g.Name == ConsumerGroup {
				st.Pending = g.Pending
				if st.Lag, err = in.groupLag(ctx, s, g); err != nil {
					return nil, unavailable("zsync.Inbox.Stats", err)
				}
			}
		}
		if st.DeadLetters, err = in.rdb.XLen(ctx, in.keys.deadLetters(account, i)).Result(); err != nil {
			return nil, unavailable("zsync.Inbox.Stats", err)
		}
		out = append(out, st)
	}
	return out, nil
}

// groupLag is how many entries of stream the group has not been handed.
// Redis 7 says so (XINFO GROUPS "lag") once the group has read entries,
// but answers null when it cannot tell, and the embedded Redis (miniredis)
// reports the stream's length whatever the group read, which would grow
// with every webhook until the hour's retention trims it. So unless Redis
// gives a figure for a group that has read, the entries after the group's
// last delivered one are counted, up to lagCountLimit (beyond it, the
// larger of that and Redis's figure).
func (in *Inbox) groupLag(ctx context.Context, stream string, g redis.XInfoGroup) (int64, error) {
	if g.EntriesRead > 0 && g.Lag >= 0 {
		return g.Lag, nil
	}
	after := g.LastDeliveredID
	if after == "" {
		after = "0-0"
	}
	msgs, err := in.rdb.XRangeN(ctx, stream, "("+after, "+", lagCountLimit).Result()
	if err != nil {
		return 0, err
	}
	n := int64(len(msgs))
	if n == lagCountLimit {
		n = max(n, g.Lag)
	}
	return n, nil
}
