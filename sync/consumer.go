package zsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// ConsumerGroup is the Redis consumer group every replica joins.
const ConsumerGroup = "zoomsync"

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	Name          string        // this replica's consumer name (unique per replica)
	Batch         int           // entries read per call; 0: 256
	Block         time.Duration // XREADGROUP BLOCK; 0: 1s
	ClaimIdle     time.Duration // entries pending longer are taken over (XAUTOCLAIM); 0: 10s
	ClaimEvery    time.Duration // how often to look for them; 0: 5s
	MaxDeliveries int64         // deliveries before an entry is dead-lettered; 0: 5
	Retention     time.Duration // acknowledged entries older than this are trimmed; 0: 1h
	Clock         clockwork.Clock
	Logger        *slog.Logger
	// Applied, if set, is told about every applied batch (metrics, tests).
	Applied func(AppliedBatch)
	// Prefer, if set, says whether this replica is the preferred reader of
	// a partition (coord.Members.Prefers). Others do not block on its stream:
	// they read it every StandbyPoll and take what was left.
	Prefer      func(account string, partition int) bool
	StandbyPoll time.Duration // 0: 500ms
}

// AppliedBatch describes one batch a consumer applied and acknowledged.
type AppliedBatch struct {
	Account   string
	Partition int
	Entries   int // entries acknowledged (applied, found stale, or changing nothing kept)
	Users     int // users written
	// Received holds, for each entry that records it, when the webhook
	// handler accepted it (its answer to Zoom).
	Received []time.Time
}

// Consumer applies inbox entries to the store. Every replica runs one; the
// consumer group hands each entry to one of them. An entry is acknowledged
// only after its write was applied (or found stale); a burst of entries
// for one user in one read is merged into a single write.
type Consumer struct {
	rdb   redis.UniversalClient
	store *Store
	inbox *Inbox
	opts  ConsumerOptions
}

// NewConsumer returns a consumer of inbox's streams into store.
func NewConsumer(rdb redis.UniversalClient, store *Store, inbox *Inbox, opts ConsumerOptions) *Consumer {
	if opts.Batch <= 0 {
		opts.Batch = 256
	}
	if opts.Block <= 0 {
		opts.Block = time.Second
	}
	if opts.ClaimIdle <= 0 {
		// A dead replica's in-flight entries wait this long. Taking over a
		// batch that is merely slow is harmless (the apply is versioned and
		// atomic with its ack), so this can be short.
		opts.ClaimIdle = 10 * time.Second
	}
	if opts.ClaimEvery <= 0 {
		opts.ClaimEvery = 5 * time.Second
	}
	if opts.MaxDeliveries <= 0 {
		opts.MaxDeliveries = 5
	}
	if opts.Retention <= 0 {
		// Acknowledged entries are kept only to look at during an incident:
		// each costs ~0.5 KB of Redis memory, so at 2,000 events/s a day's
		// worth would be ~85 GB (docs/CAPACITY.md).
		opts.Retention = time.Hour
	}
	if opts.StandbyPoll <= 0 {
		opts.StandbyPoll = 500 * time.Millisecond
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if inbox.partitions != store.keys.partitions {
		panic(fmt.Sprintf("zsync.NewConsumer: inbox has %d partitions, store %d", inbox.partitions, store.keys.partitions))
	}
	return &Consumer{rdb: rdb, store: store, inbox: inbox, opts: opts}
}

// stream is one inbox stream: an account's partition.
type stream struct {
	account   string
	partition int
	key       string
}

func (c *Consumer) stream(account string, partition int) stream {
	return stream{account: account, partition: partition, key: c.store.keys.inbox(account, partition)}
}

// Run consumes the inbox stream of one partition of an account until ctx
// ends. Redis failures are retried with backoff; Run returns only when ctx
// is done.
func (c *Consumer) Run(ctx context.Context, account string, partition int) error {
	s := c.stream(account, partition)
	log := c.opts.Logger.With(slog.String("stream", s.key))
	// 0.1 s doubling to 5 s, without jitter: one consumer per partition,
	// each on its own stream.
	retry := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second}
	lastClaim := time.Time{}
	haveGroup := false
	for ctx.Err() == nil {
		var err error
		if !haveGroup {
			err = c.ensureGroup(ctx, s)
			haveGroup = err == nil
		}
		if err == nil && c.opts.Clock.Since(lastClaim) >= c.opts.ClaimEvery {
			lastClaim = c.opts.Clock.Now()
			if err = c.claim(ctx, s); err == nil {
				err = c.trim(ctx, s)
			}
		}
		if err == nil {
			preferred := c.opts.Prefer == nil || c.opts.Prefer(account, partition)
			var n int
			n, err = c.readOnce(ctx, s, preferred)
			if err == nil && n == 0 && !preferred {
				select { // standing by: look again later
				case <-ctx.Done():
				case <-c.opts.Clock.After(c.opts.StandbyPoll):
				}
			}
		}
		if err == nil || ctx.Err() != nil {
			retry.Reset()
			continue
		}
		if errs.Is(errs.NotFound, redisconn.Classify("zsync.Consumer", err)) { // NOGROUP
			haveGroup = false // the stream was deleted (purge, flush): recreate
		}
		wait := retry.NextBackOff()
		log.Warn("inbox consumer: Redis unavailable; retrying", slog.String("error", err.Error()), slog.Duration("backoff", wait))
		select {
		case <-ctx.Done():
		case <-c.opts.Clock.After(wait):
		}
	}
	return nil
}

func (c *Consumer) ensureGroup(ctx context.Context, s stream) error {
	err := c.rdb.XGroupCreateMkStream(ctx, s.key, ConsumerGroup, "0").Err()
	if err := redisconn.Classify("zsync.Consumer.ensureGroup", err); err != nil && !errs.Is(errs.Exists, err) {
		return err
	}
	return nil
}

// readOnce reads new entries for this consumer (waiting for some up to
// Block when block is set), applies them and says how many it read.
func (c *Consumer) readOnce(ctx context.Context, s stream, block bool) (int, error) {
	wait := c.opts.Block
	if !block {
		wait = -1 // no BLOCK argument: answer at once
	}
	res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: ConsumerGroup, Consumer: c.opts.Name,
		Streams: []string{s.key, ">"}, Count: int64(c.opts.Batch), Block: wait}).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range res {
		n += len(r.Messages)
		if err := c.process(ctx, s, r.Messages); err != nil {
			return n, err
		}
	}
	return n, nil
}

// HandBack makes the entries this consumer read but has not acknowledged
// (a read cut short by shutdown) claimable by the other replicas at once,
// instead of after ClaimIdle: it marks them idle for an hour (XCLAIM
// IDLE), which their next XAUTOCLAIM round (every ClaimEvery) takes.
func (c *Consumer) HandBack(ctx context.Context, account string, partition int) (int, error) {
	s := c.stream(account, partition)
	pending, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.key, Group: ConsumerGroup, Start: "-", End: "+",
		Count: 10000, Consumer: c.opts.Name}).Result()
	if err != nil || len(pending) == 0 {
		if errs.Is(errs.NotFound, redisconn.Classify("zsync.Consumer.HandBack", err)) { // NOGROUP
			err = nil
		}
		return 0, err
	}
	ids := make([]string, len(pending))
	for i, p := range pending {
		ids[i] = p.ID
	}
	err = c.rdb.Do(ctx, append([]any{"XCLAIM", s.key, ConsumerGroup, c.opts.Name, 0}, append(stringsToAny(ids), "IDLE", time.Hour.Milliseconds(), "JUSTID")...)...).Err()
	if err != nil {
		return 0, err
	}
	return len(ids), nil
}

func stringsToAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// claim takes over entries another consumer read but never acknowledged
// (it crashed) and dead-letters entries delivered too often.
func (c *Consumer) claim(ctx context.Context, s stream) error {
	start := "0-0"
	for {
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s.key, Group: ConsumerGroup,
			Consumer: c.opts.Name, MinIdle: c.opts.ClaimIdle, Start: start, Count: int64(c.opts.Batch)}).Result()
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			live, err := c.deadLetterPoison(ctx, s, msgs)
			if err != nil {
				return err
			}
			if err := c.process(ctx, s, live); err != nil {
				return err
			}
		}
		if next == "0-0" || len(msgs) == 0 {
			return nil
		}
		start = next
	}
}

// trim drops entries older than Retention, but never one that is still
// pending (read and not acknowledged) or not yet delivered: the cut is the
// older of the retention cutoff and the oldest unfinished entry.
func (c *Consumer) trim(ctx context.Context, s stream) error {
	cutoff := c.opts.Clock.Now().Add(-c.opts.Retention).UnixMilli()
	groups, err := c.rdb.XInfoGroups(ctx, s.key).Result()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Name != ConsumerGroup {
			continue
		}
		cutoff = min(cutoff, streamIDMillis(g.LastDeliveredID)+1)
		if g.Pending > 0 {
			p, err := c.rdb.XPending(ctx, s.key, ConsumerGroup).Result()
			if err != nil {
				return err
			}
			cutoff = min(cutoff, streamIDMillis(p.Lower))
		}
	}
	if cutoff <= 0 {
		return nil
	}
	// Exact trimming: "~" only frees whole radix-tree nodes, which keeps small
	// inboxes forever; this runs every ClaimEvery, so the cost is small.
	return c.rdb.XTrimMinID(ctx, s.key, fmt.Sprintf("%d-0", cutoff)).Err()
}

// streamIDMillis is the millisecond part of a stream entry id.
func streamIDMillis(id string) int64 {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return n
}

// deadLetterPoison moves entries delivered MaxDeliveries times or more to
// the dead-letter stream, acknowledges them, and returns the others.
func (c *Consumer) deadLetterPoison(ctx context.Context, s stream, msgs []redis.XMessage) ([]redis.XMessage, error) {
	pending, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: s.key, Group: ConsumerGroup,
		Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs))}).Result()
	if err != nil {
		return nil, err
	}
	tooMany := map[string]int64{}
	for _, p := range pending {
		if p.RetryCount >= c.opts.MaxDeliveries {
			tooMany[p.ID] = p.RetryCount
		}
	}
	live := msgs[:0:0]
	for _, m := range msgs {
		n, poison := tooMany[m.ID]
		if !poison {
			live = append(live, m)
			continue
		}
		if err := c.deadLetter(ctx, s, m, fmt.Sprintf("delivered %d times without success", n)); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// deadLetter copies an entry to the dead-letter stream with the reason and
// acknowledges it, atomically.
func (c *Consumer) deadLetter(ctx context.Context, s stream, m redis.XMessage, reason string) error {
	values := map[string]any{"reason": reason, "id": m.ID}
	for k, v := range m.Values {
		values[k] = v
	}
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: c.store.keys.deadLetters(s.account, s.partition), Values: values})
		p.XAck(ctx, s.key, ConsumerGroup, m.ID)
		return nil
	})
	if err == nil {
		c.opts.Logger.Error("inbox entry dead-lettered", slog.String("stream", s.key), slog.String("id", m.ID),
			slog.String("event", fmt.Sprint(m.Values["event"])), slog.String("reason", reason))
	}
	return err
}

// process applies a batch: entries are decoded, merged per user (only the
// newest version of each field matters), and written together with their
// acknowledgement in one atomic script call for the partition.
func (c *Consumer) process(ctx context.Context, s stream, msgs []redis.XMessage) error {
	merged := map[string]*Write{}
	var order []string
	var ack []string
	for _, m := range msgs {
		if m.Values == nil { // trimmed or deleted while pending
			ack = append(ack, m.ID)
			continue
		}
		body, _ := m.Values["body"].(string)
		account, _ := m.Values["account"].(string)
		ev, err := webhook.Decode([]byte(body))
		if err != nil || account == "" {
			if err := c.deadLetter(ctx, s, m, fmt.Sprintf("undecodable entry: %v", err)); err != nil {
				return err
			}
			continue
		}
		ack = append(ack, m.ID)
		w, ok := EventWrite(account, ev)
		if !ok {
			continue // accepted, counted, changes nothing we keep
		}
		if err := checkWrite(w); err != nil {
			c.opts.Logger.Error("inbox entry makes no valid write; dropped", slog.String("stream", s.key),
				slog.String("id", m.ID), slog.String("error", err.Error()))
			continue
		}
		id := account + "\x00" + w.UserKey
		if cur, seen := merged[id]; seen {
			cur.Fields = mergeFields(cur.Fields, w.Fields)
		} else {
			merged[id] = &w
			order = append(order, id)
		}
	}
	var here, elsewhere []Write
	for _, id := range order {
		w := *merged[id]
		if w.Account == s.account && c.store.keys.partition(w.UserKey) == s.partition {
			here = append(here, w)
		} else {
			elsewhere = append(elsewhere, w) // written by an older router; apply first, then ack
		}
	}
	if len(elsewhere) > 0 {
		if _, err := c.store.ApplyBatch(ctx, elsewhere); err != nil {
			return err
		}
	}
	// On failure nothing is acknowledged and the entries are read again;
	// what did land is versioned, so replaying it is harmless. A batch that
	// was read is finished even when shutdown has begun (a few ms), so a
	// stopping replica leaves nothing half-done for others to wait for.
	if len(here) > 0 || len(ack) > 0 {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := c.store.ApplyAndAck(actx, s.account, s.partition, here, ack)
		cancel()
		if err != nil {
			return err
		}
	}
	if c.opts.Applied != nil {
		b := AppliedBatch{Account: s.account, Partition: s.partition, Entries: len(msgs), Users: len(order), Received: make([]time.Time, 0, len(msgs))}
		for _, m := range msgs {
			v, _ := m.Values["received_ms"].(string)
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				b.Received = append(b.Received, time.UnixMilli(ms))
			}
		}
		c.opts.Applied(b)
	}
	return nil
}

// mergeFields keeps, per field, the write with the highest version, as
// the apply script would: of one call's open and end of the same version,
// the end (calls.go). Each call is a field of its own, so no call's fact
// is lost to another's.
func mergeFields(a, b []FieldWrite) []FieldWrite {
	idx := map[string]int{}
	for i, f := range a {
		idx[f.Name] = i
	}
	for _, f := range b {
		if i, ok := idx[f.Name]; ok {
			if f.Version > a[i].Version || (f.Version == a[i].Version && f.Value == CallEnded && a[i].Value == CallOpen &&
				strings.HasPrefix(f.Name, CallFieldPrefix)) {
				a[i] = f
			}
			continue
		}
		idx[f.Name] = len(a)
		a = append(a, f)
	}
	return a
}
