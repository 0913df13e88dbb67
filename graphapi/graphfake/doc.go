// Package graphfake is a fake Microsoft Graph (and Microsoft Entra ID
// token endpoint) for the calls zoomsync's Teams presence target makes:
// client-credentials tokens, the presence actions, user lookups and JSON
// batching. Tests, the Teams simulation and `zoomsync demo --teams` run
// against it. It is written from Microsoft's documentation (transcribed,
// with sources, in testdata/graph-openapi), independently of package
// graphapi, so that the client is tested against the protocol and not
// against itself.
//
// # Behaviour
//
//   - POST /{tenant}/oauth2/v2.0/token takes grant_type=client_credentials,
//     client_id, scope=https://graph.microsoft.com/.default and either
//     client_secret or a client_assertion (an RS256 JWT signed with the
//     app's certificate: x5t or x5t#S256 header, aud the token URL,
//     iss = sub = client id, exp in the future). Tokens are opaque, live
//     TokenTTL (expires_in one second less, as Entra's 3599) and carry the
//     application permissions consented when they were issued: revoking
//     consent affects the next token, not one already issued (as in Entra).
//     Failures use OAuth's {"error","error_description","error_codes"}
//     with Entra's AADSTS codes (401 invalid_client for a wrong secret or
//     assertion, 400 for the rest).
//   - Graph calls (under /v1.0) need "Authorization: Bearer"; a missing,
//     unknown or expired token answers 401 InvalidAuthenticationToken, a
//     token without the permission 403. Errors use Graph's
//     {"error":{"code","message","innerError":{"date","request-id",
//     "client-request-id"}}}; every answer carries request-id.
//   - setPresence: sessionId must be the calling app's client id (the
//     documents: "the ID of the application"), availability/activity one
//     of the five documented pairs, expirationDuration an ISO 8601
//     duration from PT5M to PT4H (default PT5M). One app has one session
//     per user; posting again replaces it. clearPresence answers 404 when
//     the session does not exist. setUserPreferredPresence takes its six
//     pairs (default expiry 1 day for Busy and DoNotDisturb, 7 days
//     otherwise); clearUserPreferredPresence; setStatusMessage.
//   - Aggregation: the user sees the preferred presence when set and at
//     least one session exists; otherwise the highest of the sessions
//     (DoNotDisturb > Busy > Available > Away; among equals the latest
//     set); Offline/Offline with no session. An app session expires at its
//     expirationDuration; an Available app session fades to
//     Available/AvailableInactive 5 minutes after it was posted and to
//     Away/Away 5 minutes later. Users' own Teams clients are simulated
//     sessions (Tenant.SetClientSession).
//   - Users: GET /users/{id | userPrincipalName} and GET /users with
//     $filter "<property> eq '<value>'" on mail, userPrincipalName or
//     onPremisesImmutableId, $select honoured. Presence calls take object
//     ids only (as getPresencesByUserId documents): a UPN there is 404.
//   - Throttling: presence calls (set, clear, preferred, status message,
//     reads) are limited per app per tenant to PresenceLimit requests in
//     any PresenceWindow (default 1,500 in 30 s), user reads to
//     UserLimit units per 10 s (1 with $select, 2 without). Over the limit
//     the answer is 429 TooManyRequests with Retry-After (whole seconds,
//     until a slot frees). Each request inside a $batch counts; the
//     $batch POST itself does not.
//   - $batch: at most 20 requests, unique ids, relative urls, a
//     Content-Type header with every body; otherwise the whole batch is
//     400. dependsOn runs a request after the ones it names and answers
//     424 when one of them failed. Answers come in a shuffled order
//     (clients must match by id), inner 429s carry their own Retry-After.
//
// # Faults and observation
//
// SetFaults makes Graph or the token endpoint answer 503 (an outage).
// Options.OnPresence is told of every accepted presence action, at the
// fake's clock (what the Teams simulation measures delivery with);
// Stats counts requests, throttling and the busiest window.
package graphfake
