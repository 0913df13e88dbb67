package coord

import (
	"sync"
	"sync/atomic"
)

// FairShare counts the pieces of partitioned work (outbox partitions)
// this replica holds against its share of them: ceil(total ÷ live
// replicas). A piece is reserved before its lease is taken (Reserve) and
// given back when the lease goes (Unreserve); when a replica joins, the
// others hold more than their share and let pieces go one at a time
// (Shed).
type FairShare struct {
	total int64
	share atomic.Int64
	owned atomic.Int64

	mu   sync.Mutex
	room chan struct{} // closed (and replaced) when there is room
}

// NewFairShare returns the share of total pieces; until SetLive is told
// otherwise this replica may hold them all.
func NewFairShare(total int) *FairShare {
	f := &FairShare{total: int64(total), room: make(chan struct{})}
	f.share.Store(int64(total))
	return f
}

// SetLive sets the number of live replicas (n ≤ 0: unknown, the share
// stays) and wakes those waiting for room when there is some.
func (f *FairShare) SetLive(n int) {
	if n > 0 {
		f.share.Store((f.total + int64(n) - 1) / int64(n))
	}
	if f.owned.Load() < f.share.Load() {
		f.mu.Lock()
		close(f.room)
		f.room = make(chan struct{})
		f.mu.Unlock()
	}
}

// Room returns a channel closed the next time SetLive finds room.
func (f *FairShare) Room() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.room
}

// Counts reports how many pieces this replica holds and may hold.
func (f *FairShare) Counts() (owned, share int64) { return f.owned.Load(), f.share.Load() }

// Reserve takes one place of the share; false when it is full.
func (f *FairShare) Reserve() bool {
	for {
		n := f.owned.Load()
		if n >= f.share.Load() {
			return false
		}
		if f.owned.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Unreserve gives a place back.
func (f *FairShare) Unreserve() { f.owned.Add(-1) }

// Shed reports, at most once per piece over the share, that this replica
// should let one go; the place is given back already.
func (f *FairShare) Shed() bool {
	for {
		n := f.owned.Load()
		if n <= f.share.Load() {
			return false
		}
		if f.owned.CompareAndSwap(n, n-1) {
			return true
		}
	}
}
