// Package mapper is the mapping at run time: it keeps the directory
// snapshot fresh and every Zoom user's link to its directory entry
// computed and stored, and publishes the helpdesk lookup indices and the
// mapping report (through mapping/mapstore). mapping.Compute decides the
// links; this package reads its inputs, writes its outcome, and decides
// when.
//
// Invariants:
//   - A failed, empty or shrunken directory read changes no link: links
//     computed from a new snapshot are written only once mapstore stored
//     it; otherwise users are linked against the previous snapshot.
//   - Only links that changed are written: a link's digest (dir_sum, over
//     mapstore.LinkFields) is compared first, and a matched user's digest
//     continues its entry's, worked out once per entry.
//   - An unchanged lookup index or report category is neither built nor
//     written (mapstore.Publish compares digests).
//   - Work runs under the "mapping" lease: one replica at a time; a
//     replica that did not get it leaves the work to the holder (and looks
//     again later when it was asked to link new user data). The directory
//     read and the link computation are periodic jobs (Specs) on serve's
//     runner; a failed read is retried through its backoff.
//   - A published mapping is Complete only when every account had a
//     complete full pull before the users were read (what /readyz waits
//     for).
package mapper
