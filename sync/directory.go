package zsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc/pool"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/errs"
)

// Fields of a user record written by the mapping (never by Zoom data).
const (
	FieldDirID             = "dir_id" // the entry's stable id; "" when unlinked
	FieldDirDN             = "dir_dn"
	FieldDirUID            = "dir_uid"
	FieldDirEmployeeNumber = "dir_employee_number"
	FieldDirDisplayName    = "dir_display_name"
	FieldDirDepartment     = "dir_department"
	FieldDirTitle          = "dir_title"
	FieldDirPhone          = "dir_phone"
	FieldDirDisabled       = "dir_disabled" // "true" when the entry is disabled
	FieldDirRule           = "dir_rule"     // the rule that linked it
	FieldMapping           = "mapping"      // matched, unmatched, conflict
	FieldDirSum            = "dir_sum"      // digest of the link fields: a run rewrites only links that changed
)

// Directory and mapping keys share the hash tags {dir} and {map}: each
// group is written atomically (MULTI on one slot).
const (
	dirMetaKey   = "zs:{dir}:current"
	dirGenKey    = "zs:{dir}:gen"
	mapMetaKey   = "zs:{map}:meta"
	snapshotPage = 1000 // entries per stored chunk
)

func dirChunkKey(gen int64, i int) string { return fmt.Sprintf("zs:{dir}:g:%d:c:%d", gen, i) }

// MapIndexKey is the hash mapping a directory attribute's values (lower
// case) to the linked users ("account/userKey", comma-separated).
func MapIndexKey(name string) string { return "zs:{map}:ix:" + name }

// MapReportKey is the list holding one category of the mapping report.
func MapReportKey(category string) string { return "zs:{map}:report:" + category }

// SnapshotMeta describes the stored directory snapshot.
type SnapshotMeta struct {
	Generation int64            `json:"generation"`
	Entries    int              `json:"entries"`
	ReadAt     time.Time        `json:"read_at"`
	Flavor     directory.Flavor `json:"flavor"`
	Attributes []string         `json:"attributes"`
	// Digest identifies the entries' content: a read that found the
	// directory unchanged refreshes ReadAt and writes no chunks.
	Digest string `json:"digest,omitempty"`
	// Splits are where the next read can be cut into ranges of equal
	// size (directory.SplitPoints).
	Splits []string `json:"splits,omitempty"`
}

// ErrNoSnapshot is returned before any directory read was stored.
var ErrNoSnapshot = errs.E("zsync.LoadSnapshot", errs.NotFound, errors.New("no directory snapshot stored yet"))

// SaveSnapshot stores a complete directory read as the current snapshot,
// unless it is empty or would drop more than maxDrop (a fraction) of the
// current snapshot's entries: then nothing changes and the error says why
// (the Gitea mass-deactivation bug: a read that went wrong must not look
// like everyone left).
//
// splits are stored for the next read (directory.SplitPoints).
func SaveSnapshot(ctx context.Context, rdb redis.UniversalClient, snap *directory.Snapshot, readAt time.Time, maxDrop float64, splits []string) (SnapshotMeta, error) {
	const op = "zsync.SaveSnapshot"
	if len(snap.Entries) == 0 {
		return SnapshotMeta{}, errs.Errorf(op, errs.Invalid, "the directory read returned no people: keeping the previous snapshot (check LDAP_BASE_DN and LDAP_USER_FILTER)")
	}
	prev, err := loadMeta(ctx, rdb)
	if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return SnapshotMeta{}, err
	}
	if prev.Entries > 0 {
		if drop := float64(prev.Entries-len(snap.Entries)) / float64(prev.Entries); drop > maxDrop {
			return SnapshotMeta{}, errs.Errorf(op, errs.Permanent,
				"the directory read returned %d people, %d fewer than the %d of the current snapshot (%.1f%% > %.1f%% allowed): keeping the previous snapshot",
				len(snap.Entries), prev.Entries-len(snap.Entries), prev.Entries, 100*drop, 100*maxDrop)
		}
	}
	meta := SnapshotMeta{Entries: len(snap.Entries), ReadAt: readAt.UTC(), Flavor: snap.Flavor, Attributes: snap.Attributes,
		Digest: snapshotDigest(snap), Splits: splits}
	if prev.Generation > 0 && prev.Digest == meta.Digest {
		// The directory did not change: the stored chunks stay, under the
		// same generation (readers keep what they loaded).
		meta.Generation = prev.Generation
		return meta, setMeta(ctx, rdb, meta)
	}
	gen, err := rdb.Incr(ctx, dirGenKey).Result()
	if err != nil {
		return SnapshotMeta{}, unavailable(op, err)
	}
	meta.Generation = gen
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		i := 0
		for chunk := range slices.Chunk(snap.Entries, snapshotPage) {
			b, err := json.Marshal(chunk)
			if err != nil {
				return errs.E(op, errs.Permanent, err)
			}
			p.Set(ctx, dirChunkKey(gen, i), b, 0)
			i++
		}
		return nil
	})
	if err != nil {
		return SnapshotMeta{}, unavailable(op, err)
	}
	// The switch is one SET: readers see the old or the new snapshot whole.
	if err := setMeta(ctx, rdb, meta); err != nil {
		return SnapshotMeta{}, err
	}
	if prev.Generation > 0 {
		var old []string
		for i := 0; i*snapshotPage < prev.Entries; i++ {
			old = append(old, dirChunkKey(prev.Generation, i))
		}
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range old {
				p.Del(ctx, k)
			}
			return nil
		})
	}
	return meta, nil
}

func setMeta(ctx context.Context, rdb redis.UniversalClient, meta SnapshotMeta) error {
	b, _ := json.Marshal(meta)
	if err := rdb.Set(ctx, dirMetaKey, b, 0).Err(); err != nil {
		return unavailable("zsync.SaveSnapshot", err)
	}
	return nil
}

// snapshotDigest identifies a snapshot's content (FNV-1a, 64 bits, over
// every value with separators).
func snapshotDigest(snap *directory.Snapshot) string {
	h := fnvOffset
	write := func(v string, end byte) { h = fnvAdd(h, v, end) }
	write(string(snap.Flavor), 0)
	for _, a := range snap.Attributes {
		write(a, 0)
	}
	for i := range snap.Entries {
		e := &snap.Entries[i]
		write(e.DN, 0)
		write(e.ID, 0)
		write(strconv.FormatBool(e.Disabled), 0)
		for j := range snap.Attributes {
			for _, v := range e.Values(j) {
				write(v, 0)
			}
			write("", 1) // end of an attribute's values
		}
		write("", 2) // end of an entry
	}
	return strconv.FormatUint(h, 36) + "/" + strconv.Itoa(len(snap.Entries))
}

func loadMeta(ctx context.Context, rdb redis.UniversalClient) (SnapshotMeta, error) {
	b, err := rdb.Get(ctx, dirMetaKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return SnapshotMeta{}, ErrNoSnapshot
	}
	if err != nil {
		return SnapshotMeta{}, unavailable("zsync.LoadSnapshot", err)
	}
	var m SnapshotMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return SnapshotMeta{}, errs.E("zsync.LoadSnapshot", errs.Permanent, err)
	}
	return m, nil
}

// LoadSnapshotMeta returns the current snapshot's description only.
func LoadSnapshotMeta(ctx context.Context, rdb redis.UniversalClient) (bool, SnapshotMeta, error) {
	m, err := loadMeta(ctx, rdb)
	return err == nil, m, err
}

// LoadSnapshot returns the current directory snapshot.
func LoadSnapshot(ctx context.Context, rdb redis.UniversalClient) (*directory.Snapshot, SnapshotMeta, error) {
	meta, err := loadMeta(ctx, rdb)
	if err != nil {
		return nil, meta, err
	}
	snap := &directory.Snapshot{Flavor: meta.Flavor, Attributes: meta.Attributes, Entries: make([]directory.Entry, 0, meta.Entries)}
	for i := 0; len(snap.Entries) < meta.Entries; i++ {
		b, err := rdb.Get(ctx, dirChunkKey(meta.Generation, i)).Bytes()
		if err != nil {
			// A newer snapshot replaced this one while we read it.
			return nil, meta, errs.E("zsync.LoadSnapshot", errs.Transient, fmt.Errorf("snapshot %d chunk %d: %w", meta.Generation, i, err))
		}
		var chunk []directory.Entry
		if err := json.Unmarshal(b, &chunk); err != nil {
			return nil, meta, errs.E("zsync.LoadSnapshot", errs.Permanent, err)
		}
		snap.Entries = append(snap.Entries, chunk...)
	}
	return snap, meta, nil
}

// ScanUsers calls fn for every live (existing, not tombstoned) record of
// an account with its status and the values of the asked fields, in the
// order asked, a thousand records per round trip, so memory stays bounded
// at a million users. Partitions are read a few at once (a round trip's
// wait overlaps another's decoding); fn is called by one goroutine at a
// time, in no set order across partitions. vals is reused between calls.
func (s *Store) ScanUsers(ctx context.Context, account string, fields []string, fn func(key, status string, vals []string)) error {
	var mu sync.Mutex
	p := pool.New().WithErrors().WithContext(ctx).WithMaxGoroutines(scanConcurrency).WithCancelOnError()
	for part := 0; part < s.keys.partitions; part++ {
		p.Go(func(ctx context.Context) error {
			members, err := s.rdb.SMembers(ctx, s.keys.members(account, part)).Result()
			if err != nil {
				return unavailable("zsync.ScanUsers", err)
			}
			return s.liveRecords(ctx, account, members, fields, func(key, status string, vals []string) {
				mu.Lock()
				defer mu.Unlock()
				fn(key, status, vals)
			})
		})
	}
	return p.Wait()
}

// liveRecords reads the asked fields of the records of keys, a thousand
// per round trip, and calls fn for those that are live (existing, not
// tombstoned) with their status. vals is reused between calls.
func (s *Store) liveRecords(ctx context.Context, account string, keys, fields []string, fn func(key, status string, vals []string)) error {
	ask := append([]string{"vmax", FieldUserStatus}, fields...)
	vals := make([]string, len(fields))
	for chunk := range slices.Chunk(keys, 1000) {
		cmds := make([]*redis.SliceCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, k := range chunk {
				cmds[i] = pl.HMGet(ctx, s.keys.user(account, k), ask...)
			}
			return nil
		})
		if err != nil {
			return unavailable("zsync.Store.liveRecords", err)
		}
		for i, c := range cmds {
			v := c.Val()
			vmax, _ := v[0].(string)
			status, _ := v[1].(string)
			if vmax == "" || status == StatusDeleted {
				continue // expired (gone from the hash) or tombstone
			}
			for j := range vals {
				vals[j], _ = v[j+2].(string)
			}
			fn(chunk[i], status, vals)
		}
	}
	return nil
}

// scanConcurrency is how many partitions ScanUsers reads at once.
const scanConcurrency = 4

// UserRef names a user of an account in the mapping indices.
type UserRef struct{ Account, Key string }

func (r UserRef) String() string { return r.Account + "/" + r.Key }

// ParseUserRef parses "account/userKey".
func ParseUserRef(s string) (UserRef, bool) {
	a, k, ok := strings.Cut(s, "/")
	return UserRef{a, k}, ok && a != "" && k != ""
}

// MappingView is what a mapping run publishes for lookups and the report.
type MappingView struct {
	// Indices by name (uid, employee_number, mail).
	Indices map[string]LookupIndex
	// Report: category → JSON items, in order; Counts: category → count.
	Report   map[string][]json.RawMessage
	Counts   map[string]int // further counts (matched)
	Computed time.Time
	Snapshot SnapshotMeta
	// Complete: every account had a complete full pull before the users
	// were read, so every user took part (what /readyz waits for).
	Complete bool
}

// LookupIndex is one lookup index of a mapping run: the digest of its
// (value, user) pairs, and how to build it, which is only done when the
// digest differs from the published index's (an unchanged index, the
// steady state, is neither built nor written).
type LookupIndex struct {
	Digest IndexDigest
	// Build returns lower-case value → users ("account/key", comma
	// separated and sorted when several).
	Build func() map[string]string
}

// IndexDigest summarises the (value, user ref) pairs of an index
// independently of their order and of how they are grouped by value, so
// it can be accumulated pair by pair, on several cores, without building
// the index. The zero value is the digest of no pairs.
type IndexDigest struct{ sum, n uint64 }

// Add accounts for one pair.
func (d *IndexDigest) Add(value, ref string) {
	d.sum += fnvAdd(fnvAdd(fnvOffset, value, 0), ref, 0)
	d.n++
}

// fnvOffset and fnvAdd are FNV-1a (64 bits), written out rather than
// through hash/fnv so the digests of 100,000-entry snapshots and indices
// allocate nothing.
const fnvOffset uint64 = 14695981039346656037

// fnvAdd continues h over v and then the byte end (a separator).
func fnvAdd(h uint64, v string, end byte) uint64 {
	const prime = 1099511628211
	for i := 0; i < len(v); i++ {
		h = (h ^ uint64(v[i])) * prime
	}
	return (h ^ uint64(end)) * prime
}

// Merge accounts for the pairs o accounted for.
func (d *IndexDigest) Merge(o IndexDigest) { d.sum, d.n = d.sum+o.sum, d.n+o.n }

// Len is the number of pairs.
func (d IndexDigest) Len() int { return int(d.n) }

func (d IndexDigest) String() string {
	return strconv.FormatUint(d.sum, 16) + "/" + strconv.FormatUint(d.n, 10)
}

// SaveMapping replaces the published indices and report atomically: the
// new ones are written under temporary names and renamed in one MULTI.
func SaveMapping(ctx context.Context, rdb redis.UniversalClient, v MappingView) error {
	const op = "zsync.SaveMapping"
	tmp := func(k string) string { return k + ":tmp" }
	var renames [][2]string
	var dels []string
	old, err := rdb.HGetAll(ctx, mapMetaKey).Result()
	if err != nil {
		return unavailable(op, err)
	}
	meta := map[string]any{"computed_at": v.Computed.UTC().Format(time.RFC3339Nano), "complete": "0"}
	if v.Complete {
		meta["complete"] = "1"
	}
	for name, li := range v.Indices {
		key := MapIndexKey(name)
		if li.Digest.Len() == 0 {
			dels = append(dels, key)
			continue
		}
		// An unchanged index (the steady state) is not written again.
		sum := li.Digest.String()
		meta["sum:ix:"+name] = sum
		if old["sum:ix:"+name] == sum {
			continue
		}
		ix := li.Build()
		args := make([]any, 0, 2*len(ix))
		for val, refs := range ix {
			args = append(args, val, refs)
		}
		if err := rdb.Del(ctx, tmp(key)).Err(); err != nil {
			return unavailable(op, err)
		}
		for chunk := range slices.Chunk(args, 2000) {
			if err := rdb.HSet(ctx, tmp(key), chunk...).Err(); err != nil {
				return unavailable(op, err)
			}
		}
		renames = append(renames, [2]string{tmp(key), key})
	}
	if b, err := json.Marshal(v.Snapshot); err == nil {
		meta["snapshot"] = string(b)
	}
	for k, n := range v.Counts {
		meta["count:"+k] = n
	}
	for cat, items := range v.Report {
		key := MapReportKey(cat)
		meta["count:"+cat] = len(items)
		if len(items) == 0 {
			dels = append(dels, key)
			continue
		}
		sum := listDigest(items)
		meta["sum:report:"+cat] = sum
		if old["sum:report:"+cat] == sum {
			continue
		}
		if err := rdb.Del(ctx, tmp(key)).Err(); err != nil {
			return unavailable(op, err)
		}
		for chunk := range slices.Chunk(items, 1000) {
			vals := make([]any, len(chunk))
			for i, it := range chunk {
				vals[i] = string(it)
			}
			if err := rdb.RPush(ctx, tmp(key), vals...).Err(); err != nil {
				return unavailable(op, err)
			}
		}
		renames = append(renames, [2]string{tmp(key), key})
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range renames {
			p.Rename(ctx, r[0], r[1])
		}
		if len(dels) > 0 {
			p.Del(ctx, dels...)
		}
		p.Del(ctx, mapMetaKey)
		p.HSet(ctx, mapMetaKey, meta)
		return nil
	})
	if err != nil {
		return unavailable(op, err)
	}
	return nil
}

func listDigest(items []json.RawMessage) string {
	h := fnv.New64a()
	for _, it := range items {
		h.Write(it)
		h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 16) + "/" + strconv.Itoa(len(items))
}

// MappingReportPage reads one page of a report category and the counts
// and metadata of the whole report.
func MappingReportPage(ctx context.Context, rdb redis.UniversalClient, category string, offset, limit int64) ([]json.RawMessage, map[string]string, error) {
	var items []string
	meta, err := rdb.HGetAll(ctx, mapMetaKey).Result()
	if err == nil && category != "" {
		items, err = rdb.LRange(ctx, MapReportKey(category), offset, offset+limit-1).Result()
	}
	if err != nil {
		return nil, nil, unavailable("zsync.MappingReport", err)
	}
	out := make([]json.RawMessage, len(items))
	for i, s := range items {
		out[i] = json.RawMessage(s)
	}
	return out, meta, nil
}

// MappingComplete reports whether a complete mapping (MappingView.Complete)
// was published. One published by a version that did not record it
// counts as complete.
func MappingComplete(ctx context.Context, rdb redis.UniversalClient) (bool, error) {
	v, err := rdb.HMGet(ctx, mapMetaKey, "computed_at", "complete").Result()
	if err != nil {
		return false, unavailable("zsync.MappingComplete", err)
	}
	computed, _ := v[0].(string)
	complete, recorded := v[1].(string)
	return computed != "" && (complete == "1" || !recorded), nil
}

// ParseCount reads a count written by SaveMapping.
func ParseCount(meta map[string]string, category string) int {
	n, _ := strconv.Atoi(meta["count:"+category])
	return n
}

// Resolve finds the live records a helpdesk key names in one round trip
// of index reads and one of record reads: a Zoom user id, an email (Zoom's,
// or the linked directory entry's), a phone extension, a directory uid or
// employee number.
func (s *Store) Resolve(ctx context.Context, accounts []string, key string) ([]*Record, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, nil
	}
	email := strings.Contains(key, "@")
	digits := key != "" && strings.Trim(key, "0123456789") == "" && len(key) <= 15
	lower := strings.ToLower(key)
	type probe struct {
		account string
		cmd     *redis.StringCmd
		direct  bool // the key itself as a user key
	}
	var probes []probe
	var mapped []*redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, a := range accounts {
			if !email {
				probes = append(probes, probe{account: a, cmd: p.HGet(ctx, s.keys.user(a, key), "vmax"), direct: true})
			}
			if email {
				for _, c := range s.indexProbes(ctx, p, a, lower, s.keys.emailIndex) {
					probes = append(probes, probe{account: a, cmd: c})
				}
			}
			if digits {
				for _, c := range s.indexProbes(ctx, p, a, key, s.keys.extensionIndex) {
					probes = append(probes, probe{account: a, cmd: c})
				}
			}
		}
		for _, ix := range []string{"uid", "employee_number", "mail"} {
			if ix == "mail" && !email {
				continue
			}
			mapped = append(mapped, p.HGet(ctx, MapIndexKey(ix), lower))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("zsync.Store.Resolve", err)
	}
	var refs []UserRef
	seen := map[UserRef]bool{}
	add := func(r UserRef) {
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	for _, pr := range probes {
		v, err := pr.cmd.Result()
		if err != nil || v == "" {
			continue
		}
		if pr.direct {
			add(UserRef{pr.account, key})
		} else {
			add(UserRef{pr.account, v})
		}
	}
	for _, c := range mapped {
		v, err := c.Result()
		if err != nil {
			continue
		}
		for _, s := range strings.Split(v, ",") {
			if r, ok := ParseUserRef(s); ok {
				add(r)
			}
		}
	}
	return s.Records(ctx, refs)
}

// Records reads several records in one round trip (missing ones are left
// out).
func (s *Store) Records(ctx context.Context, refs []UserRef) ([]*Record, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(refs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range refs {
			cmds[i] = p.HGetAll(ctx, s.keys.user(r.Account, r.Key))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("zsync.Store.Records", err)
	}
	var out []*Record
	for i, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			out = append(out, recordOf(refs[i].Account, refs[i].Key, m))
		}
	}
	return out, nil
}
