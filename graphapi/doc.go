// Package graphapi is zoomsync's client for the part of Microsoft Graph
// the Teams presence target uses: an app-only token (client credentials
// with a secret or a certificate), the presence actions (setPresence,
// clearPresence, setUserPreferredPresence, clearUserPreferredPresence),
// presence reads, user lookups and JSON batching.
//
// Invariants:
//   - One Client serves one app registration in one tenant: its token,
//     its presence budget and its user-read limiter are per app and
//     tenant, as Graph's limits are.
//   - At most one token fetch is in flight per Client; a token is reused
//     until five minutes before its expiry by the Client's clock. A 401
//     invalidates that token (not a newer one) and the call is sent once
//     more with a fresh token; a second 401 is errs.Auth.
//   - Every presence call, alone or inside a $batch, first takes a slot
//     of the presence Budget, so the app never sends more than the budget
//     allows in any window, however many goroutines or replicas (with
//     RedisBudget) send. A 429 holds the whole budget until its
//     Retry-After.
//   - A $batch holds at most 20 requests; every inner answer is checked
//     by its id (answers come in any order): inner 429s are sent again
//     after their own Retry-After when that is within the call's
//     MaxInlineWait, else returned as errs.RateLimited with the time;
//     424s (a failed dependency) are sent again.
//   - Errors carry an errs.Kind: 401 (after the retry) and 403 are Auth
//     (the secret, the certificate or the consent), 404 NotFound, 429
//     RateLimited with RetryAt, other 4xx Invalid, 5xx and transport
//     errors Transient. Graph's request-id is kept in the error.
//   - The client secret, the certificate's key and access tokens never
//     appear in logs or errors. A secret given as a file is read at each
//     token fetch, so a rotated secret is used without a restart.
//   - Path parameters (user ids, UPNs) are escaped exactly once; OData
//     string literals double their quotes.
package graphapi
