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
//   - One sender per partition (a Redis lease), so two replicas never push
//     the same user to the same target at once.
//   - A target that fails is retried with jittered exponential backoff per
//     user; a change still failing after the target's dead_after is moved
//     to the target's dead letters, counted, and the user moves on.
//   - A status missing from a target's status_map is not pushed: that
//     target keeps whatever it had ("no sync").
//   - A new target type implements Target (one method) in one file and
//     passes the conformance suite (conformance_test.go).
package target
