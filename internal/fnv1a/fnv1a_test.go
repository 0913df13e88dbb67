package fnv1a

import (
	"hash/fnv"
	"testing"
)

// TestMatchesHashFNV pins every helper to the standard library's FNV-1a:
// partitions and stored digests depend on it.
func TestMatchesHashFNV(t *testing.T) {
	for _, s := range []string{"", "a", "u1", "zoom-user-0123456789", "uid=a\x00", "héllo\xff"} {
		h32 := fnv.New32a()
		h32.Write([]byte(s))
		if got := Sum32(s); got != h32.Sum32() {
			t.Fatalf("Sum32(%q) = %x, hash/fnv %x", s, got, h32.Sum32())
		}
		h64 := fnv.New64a()
		h64.Write([]byte(s))
		if got := Sum64(s); got != h64.Sum64() {
			t.Fatalf("Sum64(%q) = %x, hash/fnv %x", s, got, h64.Sum64())
		}
		h64.Write([]byte{0})
		h64.Write([]byte("next"))
		if got := New64().Add(s).AddByte(0).Add("next").Sum(); got != h64.Sum64() {
			t.Fatalf("Hash64 over %q, 0, next = %x, hash/fnv %x", s, got, h64.Sum64())
		}
	}
}
