// Package app is wiring: it assembles `zoomsync serve`, `resync`, `map`
// and `purge` from the packages that do the work (Redis or an embedded
// miniredis, one Zoom client per account, the webhook handler feeding the
// durable inbox, the consumers, the presence sender, the helpdesk API,
// and one periodic runner with the jobs the packages declare: the
// scheduled resync, the mapping's directory read and links, the presence
// sweeps), and owns the process's metrics (metrics.go and jobmetrics.go;
// observe.go feeds the packages' observers into them) and /readyz.
//
// Invariants:
//   - A webhook is answered 200 only after its inbox append (see
//     zoomapi/webhook and sync).
//   - Shutdown stops accepting connections first, lets in-flight webhook
//     requests finish their appends, and only then stops the inbox writer
//     and the consumers; entries a consumer read but did not acknowledge
//     stay pending and are claimed by another replica or after restart.
//   - /readyz is 200 only when Redis answers, every account has a
//     complete full pull recorded and, with a directory configured
//     (LDAP_URL), a complete mapping is published (one computed after
//     every account's first complete pull).
package app
