package readmodel

import "github.com/zoomsync/zoomsync/internal/fnv1a"

// keyTable maps a key's hash to the rows holding that key: open
// addressing with linear probing over row numbers (+1; 0 is empty), so a
// key costs a few bytes, not a map entry. Several rows may hold one key
// (an ambiguous email): each is an entry. The key itself is not stored:
// a reader compares the row's value (table.keyOf).
type keyTable struct {
	slots []uint32
	n     int // entries
}

func newKeyTable(capacity int) keyTable {
	size := max(16, capacity+capacity/3+1) // at most 3/4 full after a load
	return keyTable{slots: make([]uint32, size)}
}

func (k *keyTable) full() bool { return (k.n+1)*5 > len(k.slots)*4 } // past 4/5

// home is a hash's first slot.
func (k *keyTable) home(h uint64) int {
	// FNV-1a's high bits are poorly mixed for short keys that differ in
	// their last bytes: finish with a multiply-xorshift first.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return int((h >> 32) * uint64(len(k.slots)) >> 32)
}

func (k *keyTable) insert(h uint64, row uint32) {
	i := k.home(h)
	for k.slots[i] != 0 {
		if i++; i == len(k.slots) {
			i = 0
		}
	}
	k.slots[i] = row + 1
	k.n++
}

// each calls fn with every row whose entry probes from h's home, until fn
// returns false; callers check the row's value.
func (k *keyTable) each(h uint64, fn func(row uint32) bool) {
	if len(k.slots) == 0 {
		return
	}
	for i := k.home(h); k.slots[i] != 0; {
		if !fn(k.slots[i] - 1) {
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
