// Package directory reads people from an LDAP directory (OpenLDAP, Active
// Directory or any RFC 4511 server) for zoomsync's mapping.
//
// Invariants:
//   - A Read is all or nothing: it returns a Snapshot only when every page of
//     every search completed; a network error, a size or time limit, a
//     base DN the server does not hold (noSuchObject, or a referral of the
//     whole search) or a cancelled context returns an error and no entries,
//     so a broken read can never look like a shrunken directory. Search
//     continuation references (parts of the tree held apart, which Active
//     Directory sends at the domain root) are skipped and logged, not
//     followed.
//   - No content of an entry crashes the reader: any number or size of
//     values, binary values, empty DNs, invalid UTF-8 (FuzzDecodeEntry).
//   - User-supplied values reach a filter only through ldap.EscapeFilter,
//     applied exactly once, in the filter builders of this package; DNs and
//     passwords are never filter-escaped.
//   - The bind password is a secret.Secret: it is revealed only to the bind
//     request and never logged.
//   - Every entry has a stable id that survives renames: entryUUID
//     (OpenLDAP and most servers) or objectGUID (Active Directory), falling
//     back to the DN only for servers that expose neither.
//   - An Active Directory entry is Disabled when userAccountControl has
//     ACCOUNTDISABLE or accountExpires has passed (on the injected clock).
//   - Values reach a filter escaped once: user lookups' values and
//     LDAP_GROUP_DN (a DN, filter-escaped in peopleFilter).
//   - TLS configuration is built once, in New, and fails fast: an unreadable
//     CA file or one without certificates is a configuration error, not a
//     connection error at 2 a.m.
//   - Errors carry an errs.Kind: Auth (49 invalid credentials, 50
//     insufficient access), Unavailable (cannot connect), Transient (busy,
//     unavailable, timeouts: retried with jittered backoff), Invalid (bad
//     filter or configuration), Permanent (anything else).
package directory
