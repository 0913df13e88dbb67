// Package target pushes users' effective presence to phone and
// contact-center systems (SPEC §5).
//
// A status change is queued by the reconciler in the same atomic step that
// records it (see package zsync: the outbox). This package sends what is
// queued. Its invariants:
//
//   - At least once, in order per user, coalesced: a target receives a
//     user's changes in seq order and, when it was slow or down, only the
//     latest one. A change is settled only after the target accepted it
//     (or the target's map or filters skip it), so a crash between the push
//     and the settle repeats at most that one push.
//   - One sender per partition: the outbox partitions are dealt over the
//     live replicas (coord.Dealer), each under its own lease, so two
//     replicas never push the same user to the same target at once.
//   - The error's kind decides delivery. Transient and unavailable
//     failures are retried with exponential backoff per user (one
//     implementation: cenkalti/backoff); a rate-limited one waits for its
//     RetryAt; one that asking again cannot fix (permanent, auth,
//     invalid) is dead-lettered at once with its reason — unless the type
//     retries every failure (webhook: SPEC §5). A change still failing
//     after the target's dead_after is dead-lettered too; either way it is
//     counted and the user moves on.
//   - A status missing from a target's status_map is not pushed: that
//     target keeps whatever it had ("no sync"), unless its type clears
//     (Traits.ClearUnmapped).
//
// # Target types
//
// A target type is one file (webhook.go, contactcenter.go, teams.go) that registers
// a Type from init: its name in the targets file, its Traits, a Decode
// that reads and checks its own fields of an entry (Settings), and a New
// that builds a Driver from the checked Config and the Deps it needs (a
// Zoom client per account, an HTTP client, Redis for drivers that keep
// state, a logger, a clock). Its test file runs the conformance suite
// (package targettest). Nothing else changes: the sender, the config
// loader and the store learn of the type through the registry.
//
// What a type can declare, for far ends with needs of their own:
//   - a status mapping of its own: status_map values are the type's
//     vocabulary, interpreted by its driver and checked by its Decode;
//     Type.DefaultStatusMap is used when an entry gives none, and
//     Type.DeadAfter when it gives no dead_after;
//   - Traits.ReceivesDirectory: pushes carry the directory entry, and a
//     change of it re-pushes the current status;
//   - Traits.ClearUnmapped: a status not in the map is pushed with Clear
//     set, for far ends that must be told to forget (the driver knows
//     what it gave, and skips when there is nothing to clear);
//   - Traits.Expiry: the far end forgets a pushed status after this long,
//     so it is re-pushed at three quarters of it while it lasts (the
//     target's keepalive overrides);
//   - BatchDriver: when a burst is queued, up to MaxBatch pushes go in one
//     PushBatch call, each with its own result;
//   - Traits.RateLimit: the default pushes per second of the type's
//     targets; a budget per tenant is kept by the driver, which answers
//     RateLimited with RetryAt when it is spent.
package target
