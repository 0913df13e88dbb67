// Package errs is zoomsync's error vocabulary: every error that crosses a
// package boundary carries a Kind, and callers decide whether to retry,
// wait or give up from that Kind alone, never from message text.
//
// Invariants:
//   - The numeric values of Kind never change (they appear in metrics labels
//     and logs by name, but tests and dashboards rely on them being stable).
//   - KindOf walks the whole wrap chain, so wrapping an error with fmt.Errorf
//     and %w never loses its kind.
//   - Only Transient, RateLimited and Unavailable are Retryable. A
//     RateLimited error may carry the earliest time a retry can succeed
//     (RetryAt).
//   - Redis's answers get their kinds in one place, redisconn.Classify
//     (NOSCRIPT and NOGROUP are NotFound, BUSYGROUP is Exists).
package errs
