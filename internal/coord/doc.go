// Package coord holds zoomsync's coordination primitives between
// replicas that share one Redis: a lease with a fencing token (Lease),
// the set of live replicas (Members), each replica's fair share of
// partitioned work (FairShare), and the loop that holds a lease per
// partition within that share (Dealer). Every one takes the clock it
// runs on, so tests drive time.
//
// Invariants:
//   - A lease has at most one holder (SET NX PX in one script); its token
//     comes from a counter that only grows, so a holder that lost it and
//     a newer holder are told apart (Check), and Renew and Release act
//     only for the exact owner and token.
//   - A kept lease (Acquire, Keep, Hold) is renewed every TTL/3 in the
//     background; the first renewal that fails cancels the holder's
//     context with ErrLeaseLost (Held.Lost), so work that only the holder
//     may do stops within a third of the TTL of a lapse.
//   - Members is advice, not a lock: views of the live set may differ for
//     a heartbeat; a replica without a recent view treats itself as the
//     only one (it prefers every partition), so no work is left undone.
//   - FairShare never lets this replica hold more than ceil(total ÷ live)
//     pieces: a piece is reserved before its lease is taken and given
//     back when the lease is released; a replica over its share (one
//     joined) lets pieces go one at a time.
//
// Keys: a named lease is zs:{lease:NAME} with its token counter at
// zs:{lease:NAME}:fence; a lease at another key (NewLeaseAt) keeps its
// counter at KEY:fence, in the same hash slot. The live set is
// zs:{members}.
package coord
