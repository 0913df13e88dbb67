package readmodel

import "github.com/zoomsync/zoomsync/internal/fnv1a"

// keyTable maps a key's hash to the rows holding that key: open
// addressing with linear probing over row numbers (+1; 0 is empty), so a
// key costs a few bytes, not a map entry. Several rows may hold one key
// (an ambiguous email): each is an entry. The key itself is not stored:
// a reader compares the row's value (table.keyOf). Each slot has a tag,
// eight more bits of the key's hash: a probe decodes a row's value only
// when the tag matches, so a miss (most probes of a lookup, which tries a
// key in several tables) costs no record decoding.
type keyTable struct {
	slots []uint32
	tags  []uint8
	n     int // entries
}

func newKeyTable(capacity int) keyTable {
	size := max(16, capacity+capacity/3+1) // at most 3/4 full after a load
	return keyTable{slots: make([]uint32, size), tags: make([]uint8, size)}
}

func (k *keyTable) full() bool { return (k.n+1)*5 > len(k.slots)*4 } // past 4/5

// mix finishes a key's hash: FNV-1a's high bits are poorly mixed for
// short keys that differ in their last bytes (multiply-xorshift).
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// home is a hash's first slot.
func (k *keyTable) home(h uint64) int {
	return int((mix(h) >> 32) * uint64(len(k.slots)) >> 32)
}

// tagOf is a hash's tag: low bits of the mixed hash, which home (the
// high bits) does not use.
func tagOf(h uint64) uint8 { return uint8(mix(h)) }

func (k *keyTable) insert(h uint64, row uint32) {
	i := k.home(h)
	for k.slots[i] != 0 {
		if i++; i == len(k.slots) {
			i = 0
		}
	}
	k.slots[i] = row + 1
	k.tags[i] = tagOf(h)
	k.n++
}

// each calls fn with every row whose entry probes from h's home and has
// h's tag, until fn returns false; callers check the row's value (a tag
// matches one other key in 256).
func (k *keyTable) each(h uint64, fn func(row uint32) bool) {
	if len(k.slots) == 0 {
		return
	}
	tag := tagOf(h)
	for i := k.home(h); k.slots[i] != 0; {
		if k.tags[i] == tag && !fn(k.slots[i]-1) {
			return
		}
		if i++; i == len(k.slots) {
			i = 0
		}
	}
}

// remove deletes row's entry (its hash is h) by shifting back the
// entries after it that would no longer be found; hashOf gives any row's
// hash in this table.
func (k *keyTable) remove(h uint64, row uint32, hashOf func(uint32) uint64) {
	size := len(k.slots)
	i := k.home(h)
	for k.slots[i] != row+1 {
		if k.slots[i] == 0 {
			return // not held
		}
		if i++; i == size {
			i = 0
		}
	}
	k.slots[i] = 0
	k.n--
	for j := (i + 1) % size; k.slots[j] != 0; j = (j + 1) % size {
		home := k.home(hashOf(k.slots[j] - 1))
		// The entry at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			k.slots[i], k.slots[j] = k.slots[j], 0
			k.tags[i] = k.tags[j]
			i = j
		}
	}
}

func hashKey(s string) uint64 { return fnv1a.Sum64(s) }

func hashBytes(b []byte) uint64 {
	h := fnv1a.New64()
	for _, c := range b {
		h = h.AddByte(c)
	}
	return h.Sum()
}
