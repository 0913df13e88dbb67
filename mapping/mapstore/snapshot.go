package mapstore

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// Directory keys share the hash tag {dir}.
const (
	dirMetaKey   = "zs:{dir}:current"
	dirGenKey    = "zs:{dir}:gen"
	snapshotPage = 1000 // entries per stored chunk
)

func dirChunkKey(gen int64, i int) string { return fmt.Sprintf("zs:{dir}:g:%d:c:%d", gen, i) }

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
var ErrNoSnapshot = errs.E("mapstore.LoadSnapshot", errs.NotFound, errors.New("no directory snapshot stored yet"))

// SaveSnapshot stores a complete directory read as the current snapshot,
// unless it is empty or would drop more than maxDrop (a fraction) of the
// current snapshot's entries: then nothing changes and the error says why
// (the Gitea mass-deactivation bug: a read that went wrong must not look
// like everyone left).
//
// splits are stored for the next read (directory.SplitPoints).
func SaveSnapshot(ctx context.Context, rdb redis.UniversalClient, snap *directory.Snapshot, readAt time.Time, maxDrop float64, splits []string) (SnapshotMeta, error) {
	const op = "mapstore.SaveSnapshot"
	if len(snap.Entries) == 0 {
		return SnapshotMeta{}, errs.Errorf(op, errs.Invalid, "the directory read returned no people: keeping the previous snapshot (check LDAP_BASE_DN and LDAP_USER_FILTER)")
	}
	prev, err := LoadSnapshotMeta(ctx, rdb)
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
		return SnapshotMeta{}, redisconn.Classify(op, err)
	}
	meta.Generation = gen
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		i := 0
		for chunk := range slices.Chunk(snap.Entries, snapshotPage) {
			b, err := packChunk(chunk)
			if err != nil {
				return errs.E(op, errs.Permanent, err)
			}
			p.Set(ctx, dirChunkKey(gen, i), b, 0)
			i++
		}
		return nil
	})
	if err != nil {
		return SnapshotMeta{}, redisconn.Classify(op, err)
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

// A stored chunk is its entries' JSON array, gzip-compressed: the
// snapshot is held in Redis for every person of the directory, and its
// JSON (~260 B a person, the attribute names and DN suffix repeated in
// every entry) compresses about sixfold. A chunk written before
// compression (plain JSON, starting with '[') still reads.
const maxChunkJSON = 64 << 20 // a chunk's JSON at most (snapshotPage entries are a few hundred KB)

func packChunk(chunk []directory.Entry) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // the level is valid: no error
	if err := json.NewEncoder(zw).Encode(chunk); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func unpackChunk(b []byte) ([]directory.Entry, error) {
	var chunk []directory.Entry
	if len(b) > 0 && b[0] == '[' {
		return chunk, json.Unmarshal(b, &chunk)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxChunkJSON+1))
	if err != nil {
		return nil, err
	}
	if len(js) > maxChunkJSON {
		return nil, fmt.Errorf("a chunk of more than %d bytes of JSON", maxChunkJSON)
	}
	return chunk, json.Unmarshal(js, &chunk)
}

func setMeta(ctx context.Context, rdb redis.UniversalClient, meta SnapshotMeta) error {
	b, _ := json.Marshal(meta)
	if err := rdb.Set(ctx, dirMetaKey, b, 0).Err(); err != nil {
		return redisconn.Classify("mapstore.SaveSnapshot", err)
	}
	return nil
}

// snapshotDigest identifies a snapshot's content (Digest over every value
// with separators).
func snapshotDigest(snap *directory.Snapshot) string {
	h := NewDigest
	h = h.Value(string(snap.Flavor))
	for _, a := range snap.Attributes {
		h = h.Value(a)
	}
	for i := range snap.Entries {
		e := &snap.Entries[i]
		h = h.Value(e.DN).Value(e.ID).Value(strconv.FormatBool(e.Disabled))
		for j := range snap.Attributes {
			for _, v := range e.Values(j) {
				h = h.Value(v)
			}
			h = h.Add("", 1) // end of an attribute's values
		}
		h = h.Add("", 2) // end of an entry
	}
	return strconv.FormatUint(uint64(h), 36) + "/" + strconv.Itoa(len(snap.Entries))
}

// LoadSnapshotMeta returns the current snapshot's description only
// (ErrNoSnapshot before the first).
func LoadSnapshotMeta(ctx context.Context, rdb redis.UniversalClient) (SnapshotMeta, error) {
	b, err := rdb.Get(ctx, dirMetaKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return SnapshotMeta{}, ErrNoSnapshot
	}
	if err != nil {
		return SnapshotMeta{}, redisconn.Classify("mapstore.LoadSnapshot", err)
	}
	var m SnapshotMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return SnapshotMeta{}, errs.E("mapstore.LoadSnapshot", errs.Permanent, err)
	}
	return m, nil
}

// LoadSnapshot returns the current directory snapshot.
func LoadSnapshot(ctx context.Context, rdb redis.UniversalClient) (*directory.Snapshot, SnapshotMeta, error) {
	meta, err := LoadSnapshotMeta(ctx, rdb)
	if err != nil {
		return nil, meta, err
	}
	snap := &directory.Snapshot{Flavor: meta.Flavor, Attributes: meta.Attributes, Entries: make([]directory.Entry, 0, meta.Entries)}
	for i := 0; len(snap.Entries) < meta.Entries; i++ {
		b, err := rdb.Get(ctx, dirChunkKey(meta.Generation, i)).Bytes()
		if err != nil {
			// A newer snapshot replaced this one while we read it.
			return nil, meta, errs.E("mapstore.LoadSnapshot", errs.Transient, fmt.Errorf("snapshot %d chunk %d: %w", meta.Generation, i, err))
		}
		chunk, err := unpackChunk(b)
		if err != nil {
			return nil, meta, errs.E("mapstore.LoadSnapshot", errs.Permanent, fmt.Errorf("snapshot %d chunk %d: %w", meta.Generation, i, err))
		}
		snap.Entries = append(snap.Entries, chunk...)
	}
	return snap, meta, nil
}
