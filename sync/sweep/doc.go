// Package sweep keeps presence honest when events go missing: users
// whose presence nothing confirmed for MaxAge are re-read through Zoom's
// REST presence API (oldest first, within ReadsPerSecond per account),
// and calls whose end event never came are closed after CallMax.
//
// Invariants:
//   - Each account is swept by one replica at a time, under its own lease
//     ("presence-sweeper:ACCOUNT") kept while that replica lives: the
//     account's Zoom rate budget is spent by one limiter, accounts spread
//     over the replicas, and a dead replica's accounts move to the others
//     within the lease's TTL. The passes run as periodic jobs (Specs),
//     one per account, every Every (1 s).
//   - Every write is a pulled fact versioned at the moment its read was
//     sent (or, for a closed call, at the sweep): an event newer than the
//     read always wins.
//   - Only the calls that are too long end: a user's other calls go on.
//   - A refused read (not found, no permission) is not asked again until
//     MaxAge passed once more; a rate-limited or failed one ends the
//     account's pass, the rest waits for the next.
package sweep
