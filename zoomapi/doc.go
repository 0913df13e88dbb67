// Package zoomapi is zoomsync's client for Zoom's REST API: Server-to-Server
// OAuth, users, presence, Zoom Phone users and Contact Center agents.
//
// The layout follows go-github: a Client holds one service per API area
// (Users, Phone, ContactCenter), each method declares the rate-limit family
// and label Zoom documents for its endpoint, every answer comes with a
// Response carrying paging and rate-limit facts, and every failure is an
// *Error with an errs.Kind, Zoom's numeric code and x-zm-trackingid.
//
// Invariants:
//   - One Client serves one Zoom account (token, limiter and daily-limit
//     state are per account, as Zoom's limits are).
//   - At most one token fetch is in flight per Client, whatever the number
//     of concurrent callers; a token is reused until its expiry minus the
//     refresh margin by the Client's clock. A 401 or Zoom code 124
//     invalidates that token (not a newer one) and the request is retried
//     once with a fresh token.
//   - Requests are paced client-side per (family, label) so that a Client
//     alone never exceeds Zoom's per-second limit. A QPS 429 holds back the
//     whole label and the request is retried; a Daily-limit 429 is never
//     retried: it returns errs.RateLimited with the reset time, and every
//     call on that label fails fast, without a request, until then.
//   - 5xx answers and transport errors are retried with jittered exponential
//     backoff; other 4xx answers are never retried.
//   - The paging iterators yield each user exactly once, even when Zoom's
//     15-minute next_page_token expires mid-pass and the pass restarts.
//   - A paging pass fails, never loops, when Zoom hands back a
//     next_page_token it already gave or pages on far past total_records.
//   - Path parameters (user ids, emails) are escaped exactly once.
//   - Only IsUserNotFound (HTTP 404 with Zoom's code 1001) says a user does
//     not exist; a 404 without Zoom's body is errs.Transient.
//   - The REST host is the one given with WithBaseURL, else the api_url of
//     the token (https zoom.us hosts only), else DefaultBaseURL (apihost.go).
//   - Client secrets and access tokens never appear in logs or errors.
package zoomapi
