// Package mapping links Zoom users to directory entries.
//
// Compute is a pure function of the ordered match rules, the Zoom users
// (with the links they already have) and a complete directory snapshot. Its
// invariants:
//
//   - Rules are tried in order; the first rule whose normalised Zoom value
//     matches at least one entry decides the user's candidates. Values are
//     compared after Normalize: surrounding whitespace dropped, case folded,
//     and for email rules Active Directory address prefixes handled (smtp:
//     and SMTP: stripped, other address types such as sip: or x500:
//     ignored), over every value of multi-valued attributes.
//   - Ambiguity is never resolved by guessing. A rule matching several
//     entries, an entry claimed by several users, or a kept link that the
//     rules now contradict is a Conflict, and none of the users involved is
//     linked until it is resolved.
//   - A link names the entry's stable id (not its DN or email), so it
//     survives an email change on either side: a user whose linked entry
//     still exists keeps it when no rule matches any more, and keeps it
//     (with the matching rule updated) when the rules agree.
//   - A link to an entry that left the snapshot is dropped and recomputed.
//     Compute only sees complete snapshots; callers never pass a failed or
//     partial read (see package directory), so a broken read cannot unlink
//     anyone.
//   - Deleted Zoom users take no part: they neither link nor claim.
//   - The result is deterministic: lists are sorted by account and user key,
//     or by entry DN.
package mapping
