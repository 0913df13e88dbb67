// Package zoomfake is a fake Zoom that speaks Zoom's wire protocol: Server-
// to-Server OAuth, the Users, Zoom Phone and Contact Center endpoints
// zoomsync uses, Zoom's envelopes and error bodies, expiring page tokens,
// per-label rate limits answering 429 with Zoom's headers, injectable 5xx
// and latency, and signed webhooks. Tests, benchmarks and `zoomsync demo`
// run against it; it is written from Zoom's documentation, independently of
// package zoomapi, so that the client is tested against the protocol and
// not against itself.
//
// # Behaviour
//
//   - POST /oauth/token takes grant_type=account_credentials and account_id
//     in the form body or the query string, with Basic auth (standard
//     base64). Tokens live TokenTTL (expires_in is one second less, as
//     Zoom's 3599). Errors use Zoom's {"reason","error"} shape.
//   - API calls need "Authorization: Bearer"; a missing, unknown, expired
//     or other-account token answers 401 {"code":124}.
//   - GET /users pages in a stable order (creation order) with opaque
//     next_page_token cursors bound to the account and query, valid for
//     PageTokenTTL; an expired or foreign token answers 400 {"code":300}.
//     page_size defaults to 30 and is capped at 300 (the documented safe
//     maximum; the newest spec allows 2000, older material says 300).
//     Pending users are listed without "id". Users created or deleted
//     during a pass are seen or not according to their position, like a
//     cursor over a live table.
//   - Rate limits are token buckets per (account, family, label), burst =
//     one second's worth; an empty bucket answers 429 with
//     X-RateLimit-Category and X-RateLimit-Type: QPS. Faults.DailyLimitUntil
//     answers 429 Daily-limit with an RFC 3339 Retry-After.
//   - Every answer carries x-zm-trackingid.
//   - Ids and emails are path segments like any other: a user created with
//     the id "amet id" or the email "o'brien+x@exämple.com" is found by a
//     request that escapes it once.
//   - Where Zoom's documents are silent on behaviour, Faults produce what
//     the client must survive: a 404 without Zoom's body (NoZoomBody, as a
//     proxy or a wrong base URL answers), a listing handing back its token
//     (RepeatPageToken) or never ending (EndlessPages), optionally limited
//     to some endpoints (Routes). Such answers carry X-Zoomfake-Fault.
//     Options.UnknownFields adds a field the documents do not name to every
//     object of every answer; Options.APIURL sets the token's api_url.
//
// # Checked against Zoom's documents
//
// A test binary that calls contract.Run in its TestMain (package
// zoomapi/zoomfake/contract) validates every answer and webhook body of
// every fake it creates, and every request sent to one, against Zoom's
// OpenAPI documents in testdata/zoom-openapi; SetContractCheck is the hook.
//
// # Generated users
//
// User number i (FirstUser+1 … FirstUser+Users) is derived from i alone:
// first name firstNames[i%20], last name lastNames[(i/20)%20], email
// first.last.i@example.com (lower case), employee_unique_id "i", dept
// D(i%50), id a 22-character string hashed from account id and i.
// Statuses: i%50==0 pending, else i%33==0 inactive, else active.
// Zoom Phone: every user with i%5!=0, extension 10000+i. Contact Center
// agents: i%10==3. Presence: by i%20 (0–11 Available, 12–13 Away,
// 14 In_Meeting, 15 On_Phone_Call, 16 Do_Not_Disturb, 17 In_Calendar_Event,
// 18 Presenting, 19 Offline); inactive and pending users are Offline.
// The same names and emails are what internal/testserver's LDAP generator
// writes, so Zoom users and directory entries match by construction.
package zoomfake
