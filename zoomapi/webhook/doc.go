// Package webhook verifies and decodes Zoom webhooks and serves the two
// webhook endpoints of SPEC §4.
//
// Invariants:
//   - The signature is HMAC-SHA256 over "v0:{timestamp}:{raw body}" with the
//     account's secret token, compared in constant time. It is always
//     computed over the exact bytes received, never a re-encoding: Zoom
//     signs bodies containing escapes (\uD83D…) that json.Marshal would not
//     reproduce.
//   - x-zm-request-timestamp is Unix seconds and must be within Tolerance
//     (5 minutes) of now, in both directions.
//   - Bodies over MaxBodyBytes (1 MiB) are refused before any parsing.
//   - The handler answers 200 for an event only after Sink.Enqueue returned
//     nil (the event is durable); any Enqueue error is 503 so Zoom retries.
//   - endpoint.url_validation is verified, answered, and never enqueued.
//   - Unknown event names are accepted and enqueued with their raw body;
//     Decode never fails on an unknown event or an unexpected field type.
//   - Secrets and expected signatures never appear in answers or logs.
//   - Nothing a sender chooses grows the metrics or the logs without
//     bound: OnOutcome reports an event name only for verified requests,
//     and only from the fixed KnownEvents (else "other"); refusal lines
//     are written at a bounded rate, each counting the ones held back.
//
// The handler mounts on a ServeMux with Go 1.22 patterns:
//
//	mux.Handle("POST /webhooks/zoom/{account_id}", h)
//	mux.Handle("POST /webhooks/zoom", h)
//
// or use Handler.Register(mux), which does exactly that.
package webhook
