// Package zsync is zoomsync's reconciler: it turns Zoom webhooks and full
// user pulls into one versioned state in Redis.
//
// The directory is sync/ (the layout every zoomsync package follows), but
// the package clause is zsync so that it never shadows the standard
// library's sync inside or outside the package; importers write
//
//	zsync "github.com/zoomsync/zoomsync/sync"
//
// always with that alias.
//
// # State
//
// Every fact about a user (profile fields, lifecycle status, presence,
// phone call, agent status) is stored with its own version, a Unix
// millisecond timestamp shifted left one bit with the low bit set for
// webhook writes:
//
//	version = event_ts·2 + 1   (webhook)
//	version = requested_at·2   (a pulled page: the instant its request left)
//
// A write replaces a field only when its version is strictly greater than
// the stored one (a compare-and-set in one Lua script), so duplicates and
// Zoom's retries after 5, 20 and 60 minutes are harmless, reordering is
// harmless, and a webhook and a pulled row from the same millisecond
// resolve in favour of the webhook (it carries news the page may not).
// This is DBLog's watermark rule applied per field. Fields written
// together with one version store it once, for their group
// (versiongroups.go); the comparison stays per field. Phone calls follow
// it per call: each phone event is a fact about one call ("call:ID"),
// kept with its version in the user's bounded list of calls (calls.go),
// from which call_state is derived.
//
// # Keys
//
// Keys are hash-tagged by account and partition, {a:ACCOUNT:p:NN}, and a
// user's partition is a hash of its Zoom user id, so every script touches
// one Cluster slot while an account's users spread over the cluster.
// Lookups by email or extension read the partition's index hashes; a key
// that could be in any partition (an email) is looked up in all of an
// account's partitions in one pipeline.
//
// # One atomic step per batch
//
// A partition's inbox stream, records, indices, outbox, history and
// freshness index share its hash tag. So the apply script, in one call,
// writes a merged batch of facts, recomputes each user's effective status
// (presence.Effective), appends a changed status to the user's history,
// queues it in the outbox for every target (one latest change per user),
// rewrites the user's mapping inputs (inputs.go) when an input changed,
// and acknowledges the inbox entries the batch came from. Invariants:
//   - an inbox entry is acknowledged if and only if its facts were written
//     (or found stale);
//   - a status change is queued for the targets if and only if it was
//     recorded; a change of the directory data a push carries, without a
//     status change, queues the recorded change again (new seq, nothing
//     else moves) for the targets that receive directory data;
//   - derived fields (the directory link) never create a record and never
//     count as news about the Zoom user (vmax);
//   - a partition's mapping inputs hash, once marked complete, holds
//     exactly its live users, each as its record says.
//
// Work that needs one owner at a time uses the leases of package coord
// (the resync, the mapping, the presence sweep, and each partition's
// outbox: Outbox.Lease).
package zsync
