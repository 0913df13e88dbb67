// Package fnv1a is zoomsync's one FNV-1a helper: partitions, call-id
// digests, preferred readers and the digests of directory data are all
// FNV-1a, and some of them are stored in Redis, so every one is computed
// here and pinned to hash/fnv by a test.
//
// Invariants:
//   - Sum32 and Sum64 equal hash/fnv's New32a and New64a over the same
//     bytes; Hash64 continued over values equals New64a over their
//     concatenation. Stored digests and partition numbers never change.
//   - Nothing allocates: the functions run per key and per directory
//     value (100,000-entry snapshots).
package fnv1a

const (
	offset32 uint32 = 2166136261
	prime32  uint32 = 16777619
	prime64  uint64 = 1099511628211
)

// Sum32 is FNV-1a (32 bits) of s.
func Sum32(s string) uint32 {
	h := offset32
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * prime32
	}
	return h
}

// Sum64 is FNV-1a (64 bits) of s.
func Sum64(s string) uint64 { return New64().Add(s).Sum() }

// Hash64 is an FNV-1a (64 bits) digest in progress, a value: continue it
// with Add and AddByte, read it with Sum.
type Hash64 uint64

// Offset64 is the digest of nothing.
const Offset64 Hash64 = 14695981039346656037

// New64 starts a digest.
func New64() Hash64 { return Offset64 }

// Add continues h over s.
func (h Hash64) Add(s string) Hash64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ Hash64(s[i])) * Hash64(prime64)
	}
	return h
}

// AddByte continues h over one byte (a separator).
func (h Hash64) AddByte(b byte) Hash64 { return (h ^ Hash64(b)) * Hash64(prime64) }

// Sum is the digest so far.
func (h Hash64) Sum() uint64 { return uint64(h) }
