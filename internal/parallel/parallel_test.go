package parallel

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// TestChunksCoverEveryIndexOnce: whatever n and minChunk, every index in
// [0, n) is visited exactly once.
func TestChunksCoverEveryIndexOnce(t *testing.T) {
	for _, tc := range []struct{ n, minChunk int }{{0, 1}, {1, 1}, {5, 1}, {1023, 1024}, {1025, 1024}, {100_000, 1024}, {7, 0}} {
		t.Run(fmt.Sprintf("n=%d/min=%d", tc.n, tc.minChunk), func(t *testing.T) {
			seen := make([]atomic.Int32, tc.n)
			Chunks(tc.n, tc.minChunk, func(first, last int) {
				for i := first; i < last; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				if got := seen[i].Load(); got != 1 {
					t.Fatalf("index %d visited %d times", i, got)
				}
			}
		})
	}
}

// TestChunksReraisesPanics: a panic in a chunk reaches the caller after
// the other chunks returned.
func TestChunksReraisesPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Chunks(10_000, 1, func(first, _ int) {
		if first == 0 {
			panic("boom")
		}
	})
}
