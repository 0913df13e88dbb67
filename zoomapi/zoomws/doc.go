// Package zoomws connects a Zoom WebSocket event subscription
// (wss://ws.zoom.us/ws?subscriptionId=…&access_token=…) and stores its
// events in the same inbox as webhooks.
//
// Invariants:
//   - At most one connection per subscription across replicas: a client
//     connects only while it holds the subscription's Lease, checks its
//     fence before every dial, and closes the socket as soon as the lease
//     is lost. Zoom allows one connection per subscription (a second
//     closes the first), so replicas must never each connect.
//   - The token goes in the query string, never in a header, and never
//     into a log line or an error (Dial's errors quote the URL: the token
//     is cut out). The cached account token is used first; after an
//     invalid-token answer (either of Zoom's wordings, "Invalid Token" or
//     "Token is invalid", or any success:false about a token) one fresh
//     account token, then a client_credentials token; once that worked it
//     is used first. The connection is replaced TokenMargin before its
//     token expires (never sooner than half its remaining life).
//   - One writer per connection: the keeper goroutine sends
//     {"module":"heartbeat"} every Heartbeat (Zoom's JSON frame, not a
//     WebSocket ping); nothing else is written but the close frame.
//   - A read deadline on the Client's clock: no frame for ReadTimeout
//     drops the connection (a silent socket is detected in tests without
//     waiting in real time).
//   - Every end but shutdown and the lease's loss is followed by a new
//     connection after a jittered exponential backoff (MinBackoff to
//     MaxBackoff), at once for a planned token replacement or the
//     token-refusal steps.
//   - A message frame's event (content as a string, double-encoded, or as
//     an object) is decoded by webhook.Decode and stored with Sink.Enqueue,
//     retried until it is stored or the connection ends; nothing from the
//     socket stops the reader or crashes the process: malformed frames,
//     binary frames, unknown modules, events of unknown accounts are
//     counted (Observer) and logged at a bounded rate. Frames over
//     MaxFrameBytes end the connection.
//   - Zoom never redelivers: after every connection is established OnGap
//     gets the gap since the last moment every event was stored (Marks,
//     shared across replicas, else this process's own), and the alive
//     mark moves only while nothing was lost.
package zoomws
