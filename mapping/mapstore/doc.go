// Package mapstore keeps what the mapping reads and publishes in Redis:
// the directory snapshot the links are computed from, and the published
// mapping (the helpdesk lookup indices, the report and its counts). It
// also declares, once, what a link shows of a directory entry (Profile):
// which attributes each profile field is read from, which record field it
// is copied to, and which fields are helpdesk lookup keys.
//
// Invariants:
//   - A snapshot is stored only when it is complete and believable: an
//     empty read, or one that would drop more than the allowed fraction of
//     the stored snapshot's people, is refused and changes nothing (a read
//     that went wrong must not look like everyone left).
//   - Readers see the old or the new snapshot whole: chunks are written
//     under a new generation first, and one SET of the meta switches. A
//     read whose content digest equals the stored one writes no chunks
//     and keeps the generation (replicas keep what they loaded).
//   - The published indices and report are replaced atomically (written
//     under temporary names, renamed in one MULTI); an index or report
//     category whose digest did not change is neither built nor written.
//   - Stored formats and digests do not change between versions: every
//     digest is FNV-1a (Digest), so a value stored by an earlier version
//     still compares equal and an upgrade rewrites nothing.
//   - Keys share the hash tags {dir} and {map}: each group is written on
//     one Cluster slot.
package mapstore
