// Package dirfake is an in-process LDAP directory for unit tests and for
// `zoomsync demo`, built on gldap's server. It is a real LDAP server on a
// loopback port, spoken to by the same go-ldap client as production, not a
// mock of the client.
//
// It implements what zoomsync uses and checks it like OpenLDAP does:
// simple bind (wrong password: 49), searches with base/one/subtree scope
// and the full filter grammar (and, or, not, equality, substrings, >=, <=,
// presence, approx), attribute selection with operational attributes
// (entryUUID) only on request, the paged-results control with an optional
// Active-Directory-like page cap (adminLimitExceeded for larger pages,
// sizeLimitExceeded for unpaged searches past the cap), and a rootDSE that
// says OpenLDAProotDSE. Entries get a stable entryUUID derived from their
// first DN. It does not implement writes over LDAP: tests change entries
// through the Go API.
package dirfake
