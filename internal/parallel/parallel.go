// Package parallel runs the loops of a mapping run over every core.
//
// Invariant: Chunks returns only after every fn it started has returned,
// and a panic in one is re-raised in the caller (conc.WaitGroup), so no
// goroutine outlives the call.
package parallel

import (
	"runtime"

	"github.com/sourcegraph/conc"
)

// Chunks calls fn on consecutive ranges [first, last) that together cover
// [0, n), one range per core but none shorter than minChunk (a goroutine
// costs more than a short loop), and waits for them all.
func Chunks(n, minChunk int, fn func(first, last int)) {
	procs := runtime.GOMAXPROCS(0)
	chunk := max(minChunk, (n+procs-1)/procs, 1)
	if n <= chunk {
		fn(0, n)
		return
	}
	var wg conc.WaitGroup
	for first := 0; first < n; first += chunk {
		last := min(first+chunk, n)
		wg.Go(func() { fn(first, last) })
	}
	wg.Wait()
}
