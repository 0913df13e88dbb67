package mapstore

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// mapMetaKey holds the published mapping's metadata: when it was
// computed, whether it was complete, its counts and its parts' digests.
const mapMetaKey = "zs:{map}:meta"

// PublishedChannel announces each publication (the message is its
// computed_at, the version readmodel.Model.MappingVersion reports).
const PublishedChannel = "zs:{map}:published"

// IndexKey is the hash mapping a lookup key's values (IndexValue) to the
// linked users ("account/userKey", comma-separated and sorted when
// several).
func IndexKey(name string) string { return "zs:{map}:ix:" + name }

// ReportKey is the list holding one category of the mapping report.
func ReportKey(category string) string { return "zs:{map}:report:" + category }

// ReportCategories are the report's lists (GET /v1/mapping/report).
var ReportCategories = []string{"unmatched_users", "unmatched_entries", "conflicts", "disabled_active"}

// ReportCounts are the report's further counts.
var ReportCounts = []string{"matched", "users", "entries"}

// View is what a mapping run publishes for lookups and the report.
type View struct {
	// Indices by name (Profile's lookup keys).
	Indices map[string]LookupIndex
	// Report: category → JSON items, in order; Counts: category → count.
	Report   map[string][]json.RawMessage
	Counts   map[string]int // further counts (ReportCounts)
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
	// Build returns IndexValue → users ("account/key", comma separated and
	// sorted when several).
	Build func() map[string]string
}

// Publish replaces the published indices and report atomically: the new
// ones are written under temporary names and renamed in one MULTI.
func Publish(ctx context.Context, rdb redis.UniversalClient, v View) error {
	const op = "mapstore.Publish"
	tmp := func(k string) string { return k + ":tmp" }
	var renames [][2]string
	var dels []string
	old, err := rdb.HGetAll(ctx, mapMetaKey).Result()
	if err != nil {
		return redisconn.Classify(op, err)
	}
	meta := map[string]any{"computed_at": v.Computed.UTC().Format(time.RFC3339Nano), "complete": "0"}
	if v.Complete {
		meta["complete"] = "1"
	}
	for name, li := range v.Indices {
		key := IndexKey(name)
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
			return redisconn.Classify(op, err)
		}
		for chunk := range slices.Chunk(args, 2000) {
			if err := rdb.HSet(ctx, tmp(key), chunk...).Err(); err != nil {
				return redisconn.Classify(op, err)
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
		key := ReportKey(cat)
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
			return redisconn.Classify(op, err)
		}
		for chunk := range slices.Chunk(items, 1000) {
			vals := make([]any, len(chunk))
			for i, it := range chunk {
				vals[i] = string(it)
			}
			if err := rdb.RPush(ctx, tmp(key), vals...).Err(); err != nil {
				return redisconn.Classify(op, err)
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
		return redisconn.Classify(op, err)
	}
	// Announced so that read models reload at once; one that misses the
	// announcement finds the new version by polling the metadata.
	_ = rdb.Publish(ctx, PublishedChannel, meta["computed_at"]).Err()
	return nil
}

// ReportPage reads one page of a report category ("": none) and the
// metadata of the whole report (ParseCount reads its counts).
func ReportPage(ctx context.Context, rdb redis.UniversalClient, category string, offset, limit int64) ([]json.RawMessage, map[string]string, error) {
	var items []string
	meta, err := rdb.HGetAll(ctx, mapMetaKey).Result()
	if err == nil && category != "" {
		items, err = rdb.LRange(ctx, ReportKey(category), offset, offset+limit-1).Result()
	}
	if err != nil {
		return nil, nil, redisconn.Classify("mapstore.ReportPage", err)
	}
	out := make([]json.RawMessage, len(items))
	for i, s := range items {
		out[i] = json.RawMessage(s)
	}
	return out, meta, nil
}

// Complete reports whether a complete mapping (View.Complete) was
// published. One published by a version that did not record it counts as
// complete.
func Complete(ctx context.Context, rdb redis.UniversalClient) (bool, error) {
	v, err := CompleteVersion(ctx, rdb)
	return v != "", err
}

// CompleteVersion is the version (computed_at) of the published mapping
// if it is complete (as Complete says), else "".
func CompleteVersion(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	v, err := rdb.HMGet(ctx, mapMetaKey, "computed_at", "complete").Result()
	if err != nil {
		return "", redisconn.Classify("mapstore.CompleteVersion", err)
	}
	computed, _ := v[0].(string)
	complete, recorded := v[1].(string)
	if computed != "" && (complete == "1" || !recorded) {
		return computed, nil
	}
	return "", nil
}

// VersionTime is the time a mapping version (computed_at) names; the
// zero time for "" or a value that is not one.
func VersionTime(v string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, v)
	return t
}

// ParseCount reads a count written by Publish.
func ParseCount(meta map[string]string, category string) int {
	n, _ := strconv.Atoi(meta["count:"+category])
	return n
}

// ProbeKey queues on p the lookup-index reads that find the users a
// helpdesk key names through their directory entry (each lookup key of
// Profile whose Index takes the key); the returned func, called once p
// has run, lists them in Profile's order.
func ProbeKey(ctx context.Context, p redis.Pipeliner, key string) func() []zsync.UserRef {
	v := IndexValue(key)
	var cmds []*redis.StringCmd
	for _, f := range Profile {
		if f.Index != nil && f.Index(key) {
			cmds = append(cmds, p.HGet(ctx, IndexKey(f.Name), v))
		}
	}
	return func() []zsync.UserRef {
		var refs []zsync.UserRef
		for _, c := range cmds {
			v, err := c.Result()
			if err != nil {
				continue
			}
			for _, s := range strings.Split(v, ",") {
				if r, ok := zsync.ParseUserRef(s); ok {
					refs = append(refs, r)
				}
			}
		}
		return refs
	}
}
