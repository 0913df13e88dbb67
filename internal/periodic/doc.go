// Package periodic runs zoomsync's leader-only periodic work: the
// scheduled resync, the directory read and link computation, the presence
// sweeps. Each piece of work is a Job (a small type with one Run method)
// declared by the package that owns the work in a Spec saying when it
// runs (an interval, a cron expression, at start, when its Kick asks),
// under which lease, and how a failure is retried; serve adds every Spec
// to one Runner. Every replica runs the same specs; the leases decide
// which one does the work.
//
// Invariants:
//   - A job with a lease runs only while this replica holds it: the lease
//     is taken (fenced, renewed in the background by coord) before Run and
//     Run's context ends when a renewal fails. A job without a lease (the
//     resync, whose runs take the resync lease themselves) must exclude
//     itself.
//   - Jobs given the same *coord.Lease run one at a time on this replica:
//     a kicked run waits for the other rather than finding its own
//     replica's lease taken.
//   - A lease held elsewhere is not a failure: the run is skipped (or, for
//     a spec that asks, kicked again after its debounce, since the holder
//     may have started before the news that kicked it). A job that takes
//     its own lease says so by returning ErrSkipped.
//   - A failed run is retried after a backoff (cenkalti/backoff: first
//     interval, doubling up to a maximum, no jitter) when the spec asks,
//     otherwise at its next due time; a success resets the backoff. Kicks
//     and retries never move the schedule's next due time.
//   - Kicks never block and coalesce: any number of kicks before a run
//     make one run.
//   - Every run is reported (Observer): ok, failed or skipped, when it
//     ended and how long it took; a run cut short by the runner's end is
//     not.
package periodic
