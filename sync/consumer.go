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
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// ConsumerGroup is the Redis consumer group every replica joins.
const ConsumerGroup = "zoomsync"

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	Name          string        // this replica's consumer name (unique per replica)
	Batch         int           // entries read per call; 0: 256
	Block         time.Duration // XREADGROUP BLOCK; 0: 1s
	ClaimIdle     time.Duration // entries pending longer are taken over (XAUTOCLAIM); 0: 30s
	ClaimEvery    time.Duration // how often to look for them; 0: 5s
	MaxDeliveries int64         // deliveries before an entry is dead-lettered; 0: 5
	Retention     time.Duration // acknowledged entries older than this are trimmed; 0: 24h
	Clock         clockwork.Clock
	Logger        *slog.Logger
	// Applied, if set, is told about every applied batch (metrics, tests).
	Applied func(stream string, entries, users int)
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
		opts.ClaimIdle = 30 * time.Second
	}
	if opts.ClaimEvery <= 0 {
		opts.ClaimEvery = 5 * time.Second
	}
	if opts.MaxDeliveries <= 0 {
		opts.MaxDeliveries = 5
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Consumer{rdb: rdb, store: store, inbox: inbox, opts: opts}
}

// RunStream consumes one inbox stream until ctx ends. Redis failures are
// retried with backoff; RunStream returns only when ctx is done.
func (c *Consumer) RunStream(ctx context.Context, stream string) error {
	log := c.opts.Logger.With(slog.String("stream", stream))
	backoff := 100 * time.Millisecond
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		err := c.ensureGroup(ctx, stream)
		if err == nil && c.opts.Clock.Since(lastClaim) >= c.opts.ClaimEvery {
			lastClaim = c.opts.Clock.Now()
			if err = c.claim(ctx, stream); err == nil {
				err = c.trim(ctx, stream)
			}
		}
		if err == nil {
			err = c.readOnce(ctx, stream)
		}
		if err == nil || ctx.Err() != nil {
			backoff = 100 * time.Millisecond
			continue
		}
		log.Warn("inbox consumer: Redis unavailable; retrying", slog.String("error", err.Error()), slog.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
		case <-c.opts.Clock.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (c *Consumer) ensureGroup(ctx context.Context, stream string) error {
	err := c.rdb.XGroupCreateMkStream(ctx, stream, ConsumerGroup, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// readOnce reads new entries for this consumer and applies them.
func (c *Consumer) readOnce(ctx context.Context, stream string) error {
	res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: ConsumerGroup, Consumer: c.opts.Name,
		Streams: []string{stream, ">"}, Count: int64(c.opts.Batch), Block: c.opts.Block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range res {
		if err := c.process(ctx, stream, s.Messages); err != nil {
			return err
		}
	}
	return nil
}

// claim takes over entries another consumer read but never acknowledged
// (it crashed) and dead-letters entries delivered too often.
func (c *Consumer) claim(ctx context.Context, stream string) error {
	start := "0-0"
	for {
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: ConsumerGroup,
			Consumer: c.opts.Name, MinIdle: c.opts.ClaimIdle, Start: start, Count: int64(c.opts.Batch)}).Result()
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			live, err := c.deadLetterPoison(ctx, stream, msgs)
			if err != nil {
				return err
			}
			if err := c.process(ctx, stream, live); err != nil {
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
func (c *Consumer) trim(ctx context.Context, stream string) error {
	cutoff := c.opts.Clock.Now().Add(-c.opts.Retention).UnixMilli()
	groups, err := c.rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Name != ConsumerGroup {
			continue
		}
		cutoff = min(cutoff, streamIDMillis(g.LastDeliveredID)+1)
		if g.Pending > 0 {
			p, err := c.rdb.XPending(ctx, stream, ConsumerGroup).Result()
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
	return c.rdb.XTrimMinID(ctx, stream, fmt.Sprintf("%d-0", cutoff)).Err()
}

// streamIDMillis is the millisecond part of a stream entry id.
func streamIDMillis(id string) int64 {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return n
}

// deadLetterPoison moves entries delivered MaxDeliveries times or more to
// the dead-letter stream, acknowledges them, and returns the others.
func (c *Consumer) deadLetterPoison(ctx context.Context, stream string, msgs []redis.XMessage) ([]redis.XMessage, error) {
	pending, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: ConsumerGroup,
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
		if err := c.deadLetter(ctx, stream, m, fmt.Sprintf("delivered %d times without success", n)); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// deadLetter copies an entry to the dead-letter stream with the reason and
// acknowledges it, atomically.
func (c *Consumer) deadLetter(ctx context.Context, stream string, m redis.XMessage, reason string) error {
	values := map[string]any{"reason": reason, "id": m.ID}
	for k, v := range m.Values {
		values[k] = v
	}
	dead := strings.TrimSuffix(stream, ":inbox") + ":dead"
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: dead, Values: values})
		p.XAck(ctx, stream, ConsumerGroup, m.ID)
		return nil
	})
	if err == nil {
		c.opts.Logger.Error("inbox entry dead-lettered", slog.String("stream", stream), slog.String("id", m.ID),
			slog.String("event", fmt.Sprint(m.Values["event"])), slog.String("reason", reason))
	}
	return err
}

// process applies a batch: entries are decoded, merged per user (only the
// newest version of each field matters), written with one script call per
// user, then acknowledged together.
func (c *Consumer) process(ctx context.Context, stream string, msgs []redis.XMessage) error {
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
			if err := c.deadLetter(ctx, stream, m, fmt.Sprintf("undecodable entry: %v", err)); err != nil {
				return err
			}
			continue
		}
		ack = append(ack, m.ID)
		w, ok := EventWrite(account, ev)
		if !ok {
			continue // accepted, counted, changes nothing we keep
		}
		id := account + "\x00" + w.UserKey
		if cur, seen := merged[id]; seen {
			cur.Fields = mergeFields(cur.Fields, w.Fields)
		} else {
			merged[id] = &w
			order = append(order, id)
		}
	}
	writes := make([]Write, len(order))
	for i, id := range order {
		writes[i] = *merged[id]
	}
	// One pipeline for the whole batch: one round trip instead of one per
	// user. On failure nothing is acknowledged and the entries are retried;
	// the writes that did land are versioned, so replaying them is harmless.
	if _, err := c.store.ApplyBatch(ctx, writes); err != nil {
		if errs.KindOf(err) != errs.Invalid {
			return err
		}
		c.opts.Logger.Error("inbox batch refused; applying one by one", slog.String("error", err.Error()))
		for _, w := range writes {
			if _, err := c.store.Apply(ctx, w); err != nil && errs.KindOf(err) != errs.Invalid {
				return err
			}
		}
	}
	if len(ack) > 0 {
		if err := c.rdb.XAck(ctx, stream, ConsumerGroup, ack...).Err(); err != nil {
			return err
		}
	}
	if c.opts.Applied != nil {
		c.opts.Applied(stream, len(msgs), len(order))
	}
	return nil
}

// mergeFields keeps, per field, the write with the highest version.
func mergeFields(a, b []FieldWrite) []FieldWrite {
	idx := map[string]int{}
	for i, f := range a {
		idx[f.Name] = i
	}
	for _, f := range b {
		if i, ok := idx[f.Name]; ok {
			if f.Version > a[i].Version {
				a[i] = f
			}
			continue
		}
		idx[f.Name] = len(a)
		a = append(a, f)
	}
	return a
}
