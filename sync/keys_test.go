package zsync

import (
	"fmt"
	"testing"
)

// TestKeyTagIsTheDocumentedFormat: the partition tag, built without fmt,
// is "zs:{a:%s:p:%02d}" for every partition count in use.
func TestKeyTagIsTheDocumentedFormat(t *testing.T) {
	k := keyspace{partitions: 256}
	for _, account := range []string{"AbCdEfGhIjKlMnOpQrStUv", "a", ""} {
		for p := range 256 {
			if got, want := k.tag(account, p), fmt.Sprintf("zs:{a:%s:p:%02d}", account, p); got != want {
				t.Fatalf("tag(%q, %d) = %q, want %q", account, p, got, want)
			}
		}
	}
}
