package mapstore

import (
	"encoding/json"
	"strconv"

	"github.com/zoomsync/zoomsync/internal/fnv1a"
)

// Digest is FNV-1a (64 bits, internal/fnv1a) continued value by value,
// each value followed by a separator byte: the one digest behind every
// one the mapping stores (a link's dir_sum, the lookup indices', the
// snapshot's and the report's). It allocates nothing, so digesting
// 100,000 entries is cheap, and it is exactly FNV-1a, so digests stored
// by earlier versions still compare.
type Digest fnv1a.Hash64

// NewDigest is the digest of nothing (FNV-1a's offset basis).
const NewDigest = Digest(fnv1a.Offset64)

// Add continues d over v and then the byte end (a separator).
func (d Digest) Add(v string, end byte) Digest {
	return Digest(fnv1a.Hash64(d).Add(v).AddByte(end))
}

// Value continues d over v and a zero byte: one value of a list.
func (d Digest) Value(v string) Digest { return d.Add(v, 0) }

// Base36 is how a link's dir_sum is stored.
func (d Digest) Base36() string { return strconv.FormatUint(uint64(d), 36) }

// IsBase36 reports whether s is d.Base36(), without making one.
func (d Digest) IsBase36(s string) bool {
	var b [16]byte
	return string(strconv.AppendUint(b[:0], uint64(d), 36)) == s
}

// IndexDigest summarises the (value, user ref) pairs of an index
// independently of their order and of how they are grouped by value, so
// it can be accumulated pair by pair, on several cores, without building
// the index. The zero value is the digest of no pairs.
type IndexDigest struct{ sum, n uint64 }

// Add accounts for one pair.
func (d *IndexDigest) Add(value, ref string) {
	d.sum += uint64(NewDigest.Value(value).Value(ref))
	d.n++
}

// Merge accounts for the pairs o accounted for.
func (d *IndexDigest) Merge(o IndexDigest) { d.sum, d.n = d.sum+o.sum, d.n+o.n }

// Len is the number of pairs.
func (d IndexDigest) Len() int { return int(d.n) }

func (d IndexDigest) String() string {
	return strconv.FormatUint(d.sum, 16) + "/" + strconv.FormatUint(d.n, 10)
}

// listDigest identifies a report category's items, in order.
func listDigest(items []json.RawMessage) string {
	d := NewDigest
	for _, it := range items {
		d = d.Value(string(it))
	}
	return strconv.FormatUint(uint64(d), 16) + "/" + strconv.Itoa(len(items))
}
