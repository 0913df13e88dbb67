// Package secret holds credentials so that they cannot leak by accident.
//
// Invariants:
//   - A Secret prints (fmt, %v/%+v/%#v), logs (slog.LogValuer) and marshals
//     (JSON, text) as "[redacted]", or "" when empty.
//   - The value comes out only through Reveal, which is easy to find in
//     review: call it only where the value goes to its intended recipient
//     (an HMAC key, a Basic auth header, an LDAP bind).
//   - Secrets decode from JSON strings (mounted account files) and from
//     environment text.
package secret
