package zsync

import (
	"context"
	"errors"
	"iter"
	"slices"
	"testing"
)

// TestPrefetched: items come in order with the error that ends them, and
// a caller that stops early cancels the fetch under way and is not kept
// waiting for it.
func TestPrefetched(t *testing.T) {
	boom := errors.New("boom")
	numbers := func(n int, end error) func(context.Context) iter.Seq2[int, error] {
		return func(ctx context.Context) iter.Seq2[int, error] {
			return func(yield func(int, error) bool) {
				for i := range n {
					if !yield(i, nil) {
						return
					}
				}
				if end != nil {
					yield(0, end)
				}
			}
		}
	}
	t.Run("all in order", func(t *testing.T) {
		var got []int
		for v, err := range prefetched(context.Background(), numbers(100, nil)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if len(got) != 100 || !slices.IsSorted(got) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("an error ends them", func(t *testing.T) {
		n, last := 0, error(nil)
		for _, err := range prefetched(context.Background(), numbers(5, boom)) {
			n, last = n+1, err
		}
		if n != 6 || !errors.Is(last, boom) {
			t.Fatalf("%d items, last error %v", n, last)
		}
	})
	t.Run("stopping early cancels the fetch", func(t *testing.T) {
		cancelled := make(chan struct{})
		blocking := func(ctx context.Context) iter.Seq2[int, error] {
			return func(yield func(int, error) bool) {
				if !yield(1, nil) {
					return
				}
				<-ctx.Done() // a fetch that only ends when cancelled
				close(cancelled)
				yield(0, ctx.Err())
			}
		}
		for range prefetched(context.Background(), blocking) {
			break
		}
		select {
		case <-cancelled:
		default:
			t.Fatal("returned before the fetch under way was cancelled and ended")
		}
	})
}
