package mapstore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/directory"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// TestSnapshotStore: a read that found the directory unchanged keeps the
// stored chunks and generation (replicas keep what they loaded) and only
// refreshes the read time and split points; a changed one is stored under
// a new generation and the old chunks are removed; an empty read or one
// that drops too many people is refused and changes nothing.
func TestSnapshotStore(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		attrs := []string{"uid", "mail"}
		people := func(n int, mailOf func(int) string) *directory.Snapshot {
			s := &directory.Snapshot{Flavor: directory.OpenLDAP, Attributes: attrs}
			for i := range n {
				s.Entries = append(s.Entries, directory.NewEntry(fmt.Sprintf("uid=p%d,ou=people", i), fmt.Sprintf("%08x-0000-0000-0000-000000000000", i),
					false, [][]string{{fmt.Sprintf("p%d", i)}, {mailOf(i)}}))
			}
			return s
		}
		mail := func(i int) string { return fmt.Sprintf("p%d@example.com", i) }
		chunks := func(gen int64) int {
			n := 0
			for i := 0; ; i++ {
				if rdb.Exists(ctx, dirChunkKey(gen, i)).Val() == 0 {
					return n
				}
				n++
			}
		}
		first, err := SaveSnapshot(ctx, rdb, people(2500, mail), t0, 0.1, []string{"000004e2-0000-0000-0000-000000000000"})
		if err != nil || chunks(first.Generation) != 3 {
			t.Fatalf("first: %+v, %v, %d chunks", first, err, chunks(first.Generation))
		}
		// The same people again: no new generation, the same chunks.
		rdb.Del(ctx, dirChunkKey(first.Generation, 2)) // would come back if the chunks were written again
		again, err := SaveSnapshot(ctx, rdb, people(2500, mail), t0.Add(time.Hour), 0.1, nil)
		if err != nil || again.Generation != first.Generation || chunks(first.Generation) != 2 {
			t.Fatalf("unchanged: %+v, %v, %d chunks", again, err, chunks(first.Generation))
		}
		stored, err := LoadSnapshotMeta(ctx, rdb)
		if err != nil || !stored.ReadAt.Equal(t0.Add(time.Hour)) || stored.Splits != nil {
			t.Fatalf("unchanged: stored meta %+v, %v", stored, err)
		}
		rdb.Del(ctx, dirMetaKey) // start over with the full set of chunks
		first, _ = SaveSnapshot(ctx, rdb, people(2500, mail), t0, 0.1, nil)

		// One changed value is a new snapshot.
		changed := people(2500, func(i int) string {
			if i == 7 {
				return "someone.else@example.com"
			}
			return mail(i)
		})
		next, err := SaveSnapshot(ctx, rdb, changed, t0.Add(2*time.Hour), 0.1, nil)
		if err != nil || next.Generation == first.Generation || chunks(next.Generation) != 3 || chunks(first.Generation) != 0 {
			t.Fatalf("changed: %+v, %v; %d new chunks, %d old", next, err, chunks(next.Generation), chunks(first.Generation))
		}
		loaded, _, err := LoadSnapshot(ctx, rdb)
		if err != nil || len(loaded.Entries) != 2500 || loaded.First(&loaded.Entries[7], "mail") != "someone.else@example.com" {
			t.Fatalf("loaded: %v", err)
		}

		// Refusals change nothing.
		for name, s := range map[string]*directory.Snapshot{"empty": people(0, mail), "a 20% drop": people(2000, mail)} {
			if _, err := SaveSnapshot(ctx, rdb, s, t0.Add(3*time.Hour), 0.1, nil); err == nil {
				t.Errorf("%s: stored", name)
			}
		}
		after, _ := LoadSnapshotMeta(ctx, rdb)
		if after.Generation != next.Generation || after.Entries != 2500 || !slices.Equal(after.Attributes, attrs) {
			t.Fatalf("after refusals: %+v", after)
		}
	})
}

// TestSnapshotChunksCompressed: chunks are stored compressed, and a
// snapshot whose chunks were stored as plain JSON (by versions before)
// still loads.
func TestSnapshotChunksCompressed(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		snap := &directory.Snapshot{Flavor: directory.OpenLDAP, Attributes: []string{"uid", "mail"}}
		for i := range 1500 {
			snap.Entries = append(snap.Entries, directory.NewEntry(fmt.Sprintf("uid=p%d,ou=people,dc=example,dc=com", i),
				fmt.Sprintf("%08x-0000-0000-0000-000000000000", i), i%7 == 0, [][]string{{fmt.Sprintf("p%d", i)}, {fmt.Sprintf("p%d@example.com", i)}}))
		}
		meta, err := SaveSnapshot(ctx, rdb, snap, t0, 0.1, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := json.Marshal(snap.Entries[:snapshotPage])
		stored, _ := rdb.Get(ctx, dirChunkKey(meta.Generation, 0)).Bytes()
		if len(stored)*3 > len(plain) {
			t.Fatalf("a chunk of %d B, its JSON %d B", len(stored), len(plain))
		}
		for _, form := range []string{"compressed", "plain JSON"} {
			if form == "plain JSON" {
				rest, _ := json.Marshal(snap.Entries[snapshotPage:])
				rdb.Set(ctx, dirChunkKey(meta.Generation, 0), plain, 0)
				rdb.Set(ctx, dirChunkKey(meta.Generation, 1), rest, 0)
			}
			loaded, _, err := LoadSnapshot(ctx, rdb)
			if err != nil || len(loaded.Entries) != len(snap.Entries) {
				t.Fatalf("%s: %v", form, err)
			}
			for _, i := range []int{0, 7, 1499} {
				got, want := &loaded.Entries[i], &snap.Entries[i]
				if got.DN != want.DN || got.ID != want.ID || got.Disabled != want.Disabled || loaded.First(got, "mail") != snap.First(want, "mail") {
					t.Fatalf("%s: entry %d %+v, want %+v", form, i, got, want)
				}
			}
		}
	})
}

// TestDigestsAreFNV1a: the written-out hash is FNV-1a over the values and
// their separators, so digests stored by earlier versions still compare.
func TestDigestsAreFNV1a(t *testing.T) {
	want := fnv.New64a()
	want.Write([]byte("ada@example.com\x00A/u1\x00"))
	var d IndexDigest
	d.Add("ada@example.com", "A/u1")
	if d.sum != want.Sum64() || d.Len() != 1 {
		t.Fatalf("index digest %x, FNV-1a %x", d.sum, want.Sum64())
	}
	want.Reset()
	want.Write([]byte("uid=a\x02"))
	if got := NewDigest.Add("uid=a", 2); uint64(got) != want.Sum64() {
		t.Fatalf("Digest.Add %x, FNV-1a %x", got, want.Sum64())
	}
	// A link's dir_sum: each value followed by a zero byte, base 36.
	want.Reset()
	want.Write([]byte("id-1\x00uid=ada\x00"))
	if got := NewDigest.Value("id-1").Value("uid=ada"); got.Base36() != strconv.FormatUint(want.Sum64(), 36) || !got.IsBase36(got.Base36()) {
		t.Fatalf("Digest.Value %s, FNV-1a %s", got.Base36(), strconv.FormatUint(want.Sum64(), 36))
	}
}
