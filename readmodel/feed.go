package readmodel

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/mapping/mapstore"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// Run loads the model and keeps it fed until ctx ends: it subscribes to
// the presence channel first and loads once the subscription is
// confirmed (so no change falls between the load and the feed), re-reads
// the users the channel names, and reloads after every gap in the
// subscription, when the mapping publishes a new version, and when a
// drift check finds too many users differing.
func (m *Model) Run(ctx context.Context) {
	var wg conc.WaitGroup
	defer wg.Wait()
	wg.Go(func() { m.listen(ctx) })
	wg.Go(func() { m.watchMapping(ctx) })
	wg.Go(func() { m.checkDrift(ctx) })
	m.work(ctx)
}

// requestReload asks the worker for a full load (coalesced).
func (m *Model) requestReload(reason string) {
	select {
	case m.reload <- reason:
	default:
	}
}

// enqueue marks users for a re-read.
func (m *Model) enqueue(refs []zsync.UserRef) {
	if len(refs) == 0 {
		return
	}
	m.pmu.Lock()
	for _, r := range refs {
		if len(m.pending) < maxPending {
			m.pending[r] = struct{}{}
		} else {
			m.pmu.Unlock()
			m.requestReload("overflow") // too far behind: a load is cheaper
			return
		}
	}
	m.pmu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// maxPending bounds the users waiting for a re-read; past it the model
// reloads instead (memory stays bounded whatever the channel carries).
const maxPending = 100_000

// listen follows the presence channel and the mapping's announcements
// (mapstore.PublishedChannel: a version the model does not hold asks for
// a load). Any gap (an error, a resubscription after a reconnect) asks
// for a full load: messages sent while unsubscribed are lost.
func (m *Model) listen(ctx context.Context) {
	sub := m.rdb.Subscribe(ctx, zsync.PresenceChannel, mapstore.PublishedChannel)
	defer sub.Close()
	stop := context.AfterFunc(ctx, func() { _ = sub.Close() }) // a blocked receive does not watch ctx
	defer stop()
	retry := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second,
		RandomizationFactor: 0.5}
	first, broken := true, false
	for ctx.Err() == nil {
		msg, err := sub.ReceiveTimeout(ctx, 30*time.Second)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = sub.Ping(ctx) // a dead connection fails the next receive
				continue
			}
			if !broken {
				m.opts.Logger.Warn("read model: presence channel lost; reloading once resubscribed", slog.Any("err", err))
			}
			broken = true
			select {
			case <-ctx.Done():
			case <-m.opts.Clock.After(retry.NextBackOff()):
			}
			continue
		}
		switch v := msg.(type) {
		case *redis.Subscription:
			if v.Kind != "subscribe" || v.Channel != zsync.PresenceChannel {
				continue
			}
			retry.Reset()
			reason := "gap"
			if first {
				reason = "start"
			}
			first, broken = false, false
			m.requestReload(reason)
		case *redis.Message:
			if v.Channel == mapstore.PublishedChannel {
				if v.Payload != m.MappingVersion() { // coalesced with a load in progress
					m.requestReload("mapping")
				}
				continue
			}
			m.enqueue(zsync.ParseChanges(v.Payload))
		}
	}
}

// work applies re-reads and loads, one at a time, until ctx ends.
func (m *Model) work(ctx context.Context) {
	retry := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, Multiplier: 2, MaxInterval: 5 * time.Second,
		RandomizationFactor: 0.5}
	for ctx.Err() == nil {
		var err error
		select {
		case <-ctx.Done():
			return
		case reason := <-m.reload:
			if err = m.Load(ctx, reason); err != nil {
				m.requestReload(reason)
			}
		case <-m.wake:
			if !m.ready.Load() {
				continue // the load will read them
			}
			err = m.drain(ctx)
		}
		if err != nil {
			if ctx.Err() == nil {
				m.opts.Logger.Warn("read model: reading users failed; retrying", slog.Any("err", err))
			}
			select {
			case <-ctx.Done():
			case <-m.opts.Clock.After(retry.NextBackOff()):
			}
			continue
		}
		retry.Reset()
	}
}

// rereadBatch is how many users one pipelined read takes.
const rereadBatch = 500

// drain re-reads the pending users, a batch at a time.
func (m *Model) drain(ctx context.Context) error {
	for {
		m.pmu.Lock()
		refs := make([]zsync.UserRef, 0, min(len(m.pending), rereadBatch))
		for r := range m.pending {
			if len(refs) == rereadBatch {
				break
			}
			refs = append(refs, r)
			delete(m.pending, r)
		}
		m.pmu.Unlock()
		if len(refs) == 0 {
			return nil
		}
		if err := m.reread(ctx, refs); err != nil {
			m.enqueue(refs)
			return err
		}
	}
}

// reread reads refs and applies them under one lock.
func (m *Model) reread(ctx context.Context, refs []zsync.UserRef) error {
	refs = slices.DeleteFunc(refs, func(r zsync.UserRef) bool { return !slices.Contains(m.opts.Accounts, r.Account) })
	vals, err := m.store.UserFields(ctx, refs, readFields)
	if err != nil {
		return err
	}
	changed := make([]Person, 0, len(refs))
	m.mu.Lock()
	for i, r := range refs {
		if vals[i] == nil {
			m.t.remove(r.Account, r.Key)
			continue
		}
		p := personOf(r.Account, r.Key, vals[i])
		m.t.put(&p)
		changed = append(changed, p)
	}
	m.t.compact()
	m.mu.Unlock()
	m.publish(changed)
	return nil
}

// Load reads every user of the accounts into a new model and swaps it
// in whole; users the channel names meanwhile stay pending and are
// re-read after the swap.
func (m *Model) Load(ctx context.Context, reason string) error {
	start := m.opts.Clock.Now()
	// The mapping's version is read before the users: the load then
	// holds its links or newer ones, never older.
	version, err := mappingVersion(ctx, m.rdb)
	if err != nil {
		return err
	}
	t, extra, err := m.build(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.t, m.extra = t, extra
	m.mu.Unlock()
	if version != "" {
		m.mapping.Store(&version)
	}
	m.ready.Store(true)
	d := m.opts.Clock.Since(start)
	m.opts.Logger.Debug("read model loaded", slog.Int("users", t.live), slog.Duration("took", d), slog.String("reason", reason))
	if m.opts.Observer != nil {
		m.opts.Observer.Loaded(t.live, d, reason)
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return nil
}

// build reads every live user (zsync.Store.ScanUsers: partitions a few
// at a time, a thousand records a round trip) and the published mapping
// indices of lookup keys without a record field.
func (m *Model) build(ctx context.Context) (*table, []map[string][]zsync.UserRef, error) {
	m.mu.RLock()
	t := newTable(m.t.live + m.t.live/8)
	m.mu.RUnlock()
	t.bulk = true
	// Reading and building overlap: the scan hands batches of records to
	// one builder goroutine (the table is not shared) and reads on.
	type scanned struct {
		account, key string
		vals         []string
	}
	batches := make(chan []scanned, 4)
	built := make(chan struct{})
	go func() {
		defer close(built)
		for batch := range batches {
			for _, r := range batch {
				p := personOf(r.account, r.key, r.vals)
				t.put(&p)
			}
		}
	}()
	var batch []scanned
	var err error
	for _, a := range m.opts.Accounts {
		err = m.store.ScanUsers(ctx, a, readFields, func(key, _ string, vals []string) {
			batch = append(batch, scanned{a, key, slices.Clone(vals)})
			if len(batch) == 1000 {
				batches <- batch
				batch = nil
			}
		})
		if err != nil {
			break
		}
	}
	batches <- batch
	close(batches)
	<-built
	if err != nil {
		return nil, nil, err
	}
	t.sortOrder()
	t.bulk = false
	t.trim()
	var extra []map[string][]zsync.UserRef
	for _, f := range mapstore.Profile {
		if f.Index == nil || f.Record != "" {
			continue
		}
		x, err := m.uncovered(ctx, t, f)
		if err != nil {
			return nil, nil, err
		}
		extra = append(extra, x)
	}
	return t, extra, nil
}

// uncovered reads the published index of a lookup key that records do
// not carry (the directory's mail) and keeps only the values the model's
// own keys do not already answer with the same user: a directory mail
// equal to the Zoom email of the user it is linked to (the usual case)
// costs nothing.
func (m *Model) uncovered(ctx context.Context, t *table, f mapstore.ProfileField) (map[string][]zsync.UserRef, error) {
	x := map[string][]zsync.UserRef{}
	// HGETALL (not HSCAN): it is among the commands the deployment's
	// Redis ACL grants (internal/redisconn); the index is one entry per
	// linked person, read once per load.
	ix, err := m.rdb.HGetAll(ctx, mapstore.IndexKey(f.Name)).Result()
	if err != nil {
		return nil, err
	}
	for value, list := range ix {
		var refs []zsync.UserRef
		for _, s := range strings.Split(list, ",") {
			if r, ok := zsync.ParseUserRef(s); ok {
				refs = append(refs, r)
			}
		}
		if len(refs) == 1 && t.covers(value, refs[0]) {
			continue
		}
		x[value] = refs
	}
	return x, nil
}

// covers reports whether the model's own email key answers value with
// exactly ref.
func (t *table) covers(value string, ref zsync.UserRef) bool {
	n := 0
	ok := false
	t.byEmail.each(hashKey(value), func(i uint32) bool {
		if string(t.keyOf(i, sEmail)) == value {
			n++
			ok = t.small.strs[t.rows[i].account] == ref.Account && string(t.keyOf(i, 0)) == ref.Key
		}
		return true
	})
	return n == 1 && ok
}

// mappingVersion is the published mapping's version (its computed_at),
// "" when none is published.
func mappingVersion(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	_, meta, err := mapstore.ReportPage(ctx, rdb, "", 0, 0)
	return meta["computed_at"], err
}

// watchMapping reloads when the mapping publishes a version other than
// the one the model holds (a run rewrites links, which the presence
// channel does not announce).
func (m *Model) watchMapping(ctx context.Context) {
	for {
		if v, err := mappingVersion(ctx, m.rdb); err == nil && v != "" && m.Ready() && v != m.MappingVersion() {
			m.requestReload("mapping")
		}
		select {
		case <-ctx.Done():
			return
		case <-m.opts.Clock.After(m.opts.MappingEvery):
		}
	}
}

// checkDrift compares, every DriftEvery, each record's versions (vmax,
// status_seq, dir_sum) with the model's: users that differ, appeared or
// went are re-read; more than a tenth of them reloads the model.
func (m *Model) checkDrift(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.opts.Clock.After(m.opts.DriftEvery):
		}
		if !m.ready.Load() {
			continue
		}
		if n, err := m.Drift(ctx); err != nil {
			m.opts.Logger.Warn("read model: drift check failed", slog.Any("err", err))
		} else if n > 0 && m.opts.Observer != nil {
			m.opts.Observer.Drifted(n)
		}
	}
}

// Drift runs one drift check and returns how many users differed.
func (m *Model) Drift(ctx context.Context) (int, error) {
	var drifted []zsync.UserRef
	m.mu.RLock()
	seen := make([]uint64, len(m.t.rows)/64+1) // rows seen in Redis
	m.mu.RUnlock()
	for _, a := range m.opts.Accounts {
		err := m.store.ScanUsers(ctx, a, versionFields, func(key, _ string, vals []string) {
			v := versionOf(vals[0], vals[1], vals[2])
			m.mu.RLock()
			i, ok := m.t.find(a, key)
			same := ok && m.t.rows[i].version == v
			m.mu.RUnlock()
			if ok && int(i/64) < len(seen) {
				seen[i/64] |= 1 << (i % 64)
			}
			if !same {
				drifted = append(drifted, zsync.UserRef{Account: a, Key: key})
			}
		})
		if err != nil {
			return 0, err
		}
	}
	m.mu.RLock()
	for i := range m.t.rows {
		if i/64 < len(seen) && seen[i/64]&(1<<(i%64)) == 0 && m.t.rows[i].flags&flagLive != 0 {
			drifted = append(drifted, zsync.UserRef{Account: m.t.small.strs[m.t.rows[i].account], Key: string(m.t.keyOf(uint32(i), 0))})
		}
	}
	live := m.t.live
	m.mu.RUnlock()
	switch {
	case len(drifted) > live/10+100:
		m.requestReload("drift")
	default:
		m.enqueue(drifted)
	}
	return len(drifted), nil
}
