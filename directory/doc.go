// Package directory reads people from an LDAP directory (OpenLDAP, Active
// Directory or any RFC 4511 server) for zoomsync's mapping.
//
// Invariants:
//   - A Read is all or nothing: it returns a Snapshot only when every page of
//     every search completed; a network error, a size or time limit, a
//     referral it cannot follow or a cancelled context returns an error and
//     no entries, so a broken read can never look like a shrunken directory.
//   - User-supplied values reach a filter only through ldap.EscapeFilter,
//     applied exactly once, in the filter builders of this package; DNs and
//     passwords are never filter-escaped.
//   - The bind password is a secret.Secret: it is revealed only to the bind
//     request and never logged.
//   - Every entry has a stable id that survives renames: entryUUID
//     (OpenLDAP and most servers) or objectGUID (Active Directory), falling
//     back to the DN only for servers that expose neither.
//   - TLS configuration is built once, in New, and fails fast: an unreadable
//     CA file or one without certificates is a configuration error, not a
//     connection error at 2 a.m.
//   - Errors carry an errs.Kind: Auth (49 invalid credentials, 50
//     insufficient access), Unavailable (cannot connect), Transient (busy,
//     unavailable, timeouts: retried with jittered backoff), Invalid (bad
//     filter or configuration), Permanent (anything else).
package directory
