package zsync

import (
	"strconv"
	"strings"

	"github.com/zoomsync/zoomsync/internal/fnv1a"
)

// DefaultPartitions is how many slots an account's users spread over.
const DefaultPartitions = 16

// keyspace builds every Redis key of the reconciler. Each key of a user
// shares the hash tag {a:ACCOUNT:p:NN} with its partition's indices and
// inbox, so a script touching them stays in one Cluster slot.
type keyspace struct {
	partitions int
}

// partition of a user key (a Zoom user id, or "e:"+email for a pending
// user without one).
func (k keyspace) partition(userKey string) int {
	return int(fnv1a.Sum32(userKey) % uint32(k.partitions))
}

func (k keyspace) tag(account string, p int) string {
	// "zs:{a:%s:p:%02d}", without fmt: every key of every event is built here.
	n := strconv.Itoa(p)
	if p >= 0 && p < 10 {
		n = "0" + n
	}
	return "zs:{a:" + account + ":p:" + n + "}"
}

// user is the hash of one user's record.
func (k keyspace) user(account, userKey string) string {
	return k.tag(account, k.partition(userKey)) + ":u:" + userKey
}

// emailIndex maps lower-case email → user key, per partition.
func (k keyspace) emailIndex(account string, p int) string { return k.tag(account, p) + ":ix:email" }

// extensionIndex maps phone extension → user key, per partition.
func (k keyspace) extensionIndex(account string, p int) string { return k.tag(account, p) + ":ix:ext" }

// members is the set of user keys of a partition (for full-pull
// bookkeeping and purge).
func (k keyspace) members(account string, p int) string { return k.tag(account, p) + ":members" }

// pendingKey is the user key of a pending user listed without an id.
func pendingKey(email string) string { return "e:" + strings.ToLower(strings.TrimSpace(email)) }

// inbox is the inbox stream of an account's partition p: a user's events
// wait in its own partition's stream, so the script that applies them can
// acknowledge them in the same atomic step (one slot), and one user's
// events are read in order.
func (k keyspace) inbox(account string, p int) string { return k.tag(account, p) + ":inbox" }

// deadLetters holds entries that could not be applied, beside their inbox.
func (k keyspace) deadLetters(account string, p int) string { return k.tag(account, p) + ":dead" }

// outbox holds, per user, the latest status change not yet delivered
// everywhere: "seq|status|previous|at_ms" (one per user: coalesced).
func (k keyspace) outbox(account string, p int) string { return k.tag(account, p) + ":out" }

// due is a target's schedule: user → when to (re)try delivering.
func (k keyspace) due(account string, p int, target string) string {
	return k.tag(account, p) + ":due:" + target
}

// sent is a target's delivery state: user → last delivered seq.
func (k keyspace) sent(account string, p int, target string) string {
	return k.tag(account, p) + ":sent:" + target
}

// failing is a target's failure state: user → "first failure ms|attempts".
func (k keyspace) failing(account string, p int, target string) string {
	return k.tag(account, p) + ":fail:" + target
}

// deadOutbox is a target's dead letters (changes given up on).
func (k keyspace) deadOutbox(account string, p int, target string) string {
	return k.tag(account, p) + ":outdead:" + target
}

// doorbell wakes the partition's sender (BLPOP) when a change is queued.
func (k keyspace) doorbell(account string, p int) string { return k.tag(account, p) + ":bell" }

// outboxLease names the replica sending the partition's outbox (a
// coord.Lease: "owner:token"; its token counter is outboxLease+":fence").
func (k keyspace) outboxLease(account string, p int) string { return k.tag(account, p) + ":outlease" }

// freshness: user → when presence was last confirmed (ms; 0: never).
func (k keyspace) freshness(account string, p int) string { return k.tag(account, p) + ":fresh" }

// openCalls: user → when the call in progress began (ms).
func (k keyspace) openCalls(account string, p int) string { return k.tag(account, p) + ":calls" }

// historyList is a user's status history: packed entries, newest first
// (history.go).
func (k keyspace) historyList(account, userKey string) string {
	return k.tag(account, k.partition(userKey)) + ":hl:" + userKey
}

// historyStream is a user's status history as versions before the list
// wrote it: a stream, read until it expires (a window after its last entry).
func (k keyspace) historyStream(account, userKey string) string {
	return k.tag(account, k.partition(userKey)) + ":h:" + userKey
}
