package coord

import (
	"context"
	"log/slog"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/sourcegraph/conc"
)

// Dealer spreads pieces of partitioned work (the outbox partitions) over
// the live replicas: each piece has its own lease, and this replica takes
// a piece nobody holds while it has room in its FairShare, works on it
// while the lease holds, and lets it go when the lease is lost, when it
// holds more than its share (a replica joined), or when it stops — so a
// stopped or dead replica's pieces move within a lease period.
type Dealer struct {
	Pieces  int
	Lease   func(piece int) *Lease // the piece's lease, acting for this replica
	Members *Members               // the live set, run by the caller
	Share   *FairShare             // nil: NewFairShare(Pieces)
	Clock   clockwork.Clock        // nil: the real clock
	Logger  *slog.Logger
	// Period is how often a piece not held is looked at again and the
	// share is recomputed; default a third of the first lease's TTL.
	Period time.Duration
}

// Run deals the pieces until ctx ends. While this replica holds piece i,
// step(ctx, i) is called again and again; it does one round of the
// piece's work and may wait for more, but returns within about Period
// (or when ctx, which ends when the lease is lost, ends), so the piece
// can be handed over between rounds.
func (d *Dealer) Run(ctx context.Context, step func(ctx context.Context, piece int)) {
	if d.Pieces == 0 {
		return
	}
	if d.Share == nil {
		d.Share = NewFairShare(d.Pieces)
	}
	if d.Clock == nil {
		d.Clock = clockwork.NewRealClock()
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Period <= 0 {
		d.Period = d.Lease(0).TTL() / 3
	}
	var wg conc.WaitGroup
	wg.Go(func() { d.share(ctx) })
	for i := range d.Pieces {
		wg.Go(func() { d.piece(ctx, i, step) })
	}
	wg.Wait()
}

// share keeps this replica's share in step with the live set.
func (d *Dealer) share(ctx context.Context) {
	for ctx.Err() == nil {
		d.Share.SetLive(d.Members.Count())
		select {
		case <-ctx.Done():
		case <-d.Clock.After(d.Period):
		}
	}
}

func (d *Dealer) piece(ctx context.Context, i int, step func(context.Context, int)) {
	lease := d.Lease(i)
	for ctx.Err() == nil {
		room := d.Share.Room()
		// Only a piece nobody holds competes for this replica's room: a
		// reservation for one another replica holds would fail at
		// Acquire, and loops that woke a moment after it would find the
		// room taken — the same ones, every round, while a free piece
		// went unworked.
		h, err := lease.Holder(ctx)
		if (err == nil && h.Owner != "" && h.Owner != lease.Owner()) || !d.Share.Reserve() {
			d.wait(ctx, room)
			continue
		}
		held, err := lease.Acquire(ctx)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("lease: Redis unavailable", slog.Int("piece", i), slog.String("error", err.Error()))
		}
		if held == nil {
			d.Share.Unreserve()
			d.wait(ctx, room)
			continue
		}
		shed := false
		for held.Err() == nil {
			if d.Share.Shed() {
				shed = true // another replica joined: hand this piece over
				break
			}
			step(held.Context(), i)
		}
		_ = held.Release()
		if !shed {
			d.Share.Unreserve()
		}
	}
}

// wait waits a Period, or until there is room or ctx ends.
func (d *Dealer) wait(ctx context.Context, room <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-d.Clock.After(d.Period):
	case <-room:
	}
}
