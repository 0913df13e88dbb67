package redisconn

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
)

// KeyPattern and ChannelPattern are the ACL patterns of every key and
// Pub/Sub channel zoomsync uses.
const (
	KeyPattern     = "zs:*"
	ChannelPattern = "zs:*"
)

// PresenceChannel is the Pub/Sub channel the apply script announces every
// effective status change on ("account\tuser"); live views subscribe.
const PresenceChannel = "zs:presence"

// Command is one Redis command zoomsync sends, directly or from its Lua
// scripts (whose calls the server checks against the same ACL).
type Command struct {
	// ACL is the command's ACL name, with its subcommand: "xgroup|create".
	ACL string
	// Probe is how the start-up check queues it inside MULTI (nothing
	// runs: the transaction is discarded), with keys and channels under
	// zoomsync's prefix so that the user's key and channel rules are
	// checked too. Nil: not probed that way (see Check).
	Probe []any
}

const (
	probeKey  = "zs:{probe}:k"
	probeKey2 = "zs:{probe}:k2"
	probeLua  = "return 1"
)

func probeSHA() string {
	h := sha1.Sum([]byte(probeLua))
	return hex.EncodeToString(h[:])
}

// Commands is every command zoomsync needs. The secured test topologies
// create their ACL user from it, so the whole suite fails on a command
// missing here.
var Commands = []Command{
	// Connection, and slot discovery on a Cluster. HELLO (RESP3 and AUTH in one) is sent before the user is
	// known; go-redis falls back to AUTH without it.
	{ACL: "hello"},
	{ACL: "ping", Probe: []any{"PING"}},
	{ACL: "cluster|slots", Probe: []any{"CLUSTER", "SLOTS"}},
	// The Cluster client learns each command's key positions from COMMAND.
	{ACL: "command", Probe: []any{"COMMAND", "COUNT"}},
	// Transactions (MULTI/EXEC pipelines). EXEC is probed outside MULTI.
	{ACL: "multi"},
	{ACL: "exec"},
	{ACL: "discard"},
	// Lua scripts: the apply script, leases, outbox ownership.
	{ACL: "evalsha", Probe: []any{"EVALSHA", probeSHA(), 1, probeKey}},
	{ACL: "eval", Probe: []any{"EVAL", probeLua, 1, probeKey}},
	{ACL: "script|load", Probe: []any{"SCRIPT", "LOAD", probeLua}},
	// Strings and keys.
	{ACL: "get", Probe: []any{"GET", probeKey}},
	{ACL: "set", Probe: []any{"SET", probeKey, "1", "PX", 1000}},
	{ACL: "incr", Probe: []any{"INCR", probeKey}},
	{ACL: "del", Probe: []any{"DEL", probeKey}},
	{ACL: "unlink", Probe: []any{"UNLINK", probeKey}},
	{ACL: "exists", Probe: []any{"EXISTS", probeKey}},
	{ACL: "pexpire", Probe: []any{"PEXPIRE", probeKey, 1000}},
	{ACL: "persist", Probe: []any{"PERSIST", probeKey}},
	{ACL: "rename", Probe: []any{"RENAME", probeKey, probeKey2}},
	{ACL: "scan", Probe: []any{"SCAN", 0, "MATCH", KeyPattern, "COUNT", 1}},
	// Hashes: user records, indices, directory snapshots.
	{ACL: "hset", Probe: []any{"HSET", probeKey, "f", "v"}},
	{ACL: "hget", Probe: []any{"HGET", probeKey, "f"}},
	{ACL: "hmget", Probe: []any{"HMGET", probeKey, "f"}},
	{ACL: "hgetall", Probe: []any{"HGETALL", probeKey}},
	{ACL: "hdel", Probe: []any{"HDEL", probeKey, "f"}},
	{ACL: "hincrby", Probe: []any{"HINCRBY", probeKey, "f", 1}},
	// Sorted sets: schedules, presence history, leases' members.
	{ACL: "zadd", Probe: []any{"ZADD", probeKey, 1, "m"}},
	{ACL: "zrem", Probe: []any{"ZREM", probeKey, "m"}},
	{ACL: "zrange", Probe: []any{"ZRANGE", probeKey, 0, -1}},
	{ACL: "zcard", Probe: []any{"ZCARD", probeKey}},
	{ACL: "zremrangebyscore", Probe: []any{"ZREMRANGEBYSCORE", probeKey, 0, 1}},
	// Sets and lists.
	{ACL: "sadd", Probe: []any{"SADD", probeKey, "m"}},
	{ACL: "smembers", Probe: []any{"SMEMBERS", probeKey}},
	{ACL: "scard", Probe: []any{"SCARD", probeKey}},
	{ACL: "lpush", Probe: []any{"LPUSH", probeKey, "x"}},
	{ACL: "rpush", Probe: []any{"RPUSH", probeKey, "x"}},
	{ACL: "ltrim", Probe: []any{"LTRIM", probeKey, 0, 1}},
	{ACL: "lrange", Probe: []any{"LRANGE", probeKey, 0, 1}},
	{ACL: "blpop", Probe: []any{"BLPOP", probeKey, 1}},
	// Streams: the durable inbox.
	{ACL: "xadd", Probe: []any{"XADD", probeKey, "*", "f", "v"}},
	{ACL: "xack", Probe: []any{"XACK", probeKey, "g", "0-1"}},
	{ACL: "xreadgroup", Probe: []any{"XREADGROUP", "GROUP", "g", "c", "COUNT", 1, "STREAMS", probeKey, ">"}},
	{ACL: "xgroup|create", Probe: []any{"XGROUP", "CREATE", probeKey, "g", "$", "MKSTREAM"}},
	{ACL: "xautoclaim", Probe: []any{"XAUTOCLAIM", probeKey, "g", "c", 1000, "0-0"}},
	{ACL: "xclaim", Probe: []any{"XCLAIM", probeKey, "g", "c", 0, "0-1"}},
	{ACL: "xpending", Probe: []any{"XPENDING", probeKey, "g"}},
	{ACL: "xlen", Probe: []any{"XLEN", probeKey}},
	{ACL: "xrange", Probe: []any{"XRANGE", probeKey, "-", "+", "COUNT", 1}},
	{ACL: "xtrim", Probe: []any{"XTRIM", probeKey, "MINID", "0-1"}},
	{ACL: "xinfo|groups", Probe: []any{"XINFO", "GROUPS", probeKey}},
	// Replication: acknowledging a webhook once replicas have it.
	{ACL: "wait", Probe: []any{"WAIT", 0, 1}},
	// Pub/Sub: live presence for the board and stream.
	{ACL: "publish", Probe: []any{"PUBLISH", PresenceChannel, "probe"}},
	{ACL: "subscribe", Probe: []any{"SUBSCRIBE", PresenceChannel}},
}

// ACLRules are the rules of an ACL user that may do exactly what zoomsync
// does, for ACL SETUSER after "on >password".
func ACLRules() []string {
	rules := []string{"resetkeys", "~" + KeyPattern, "resetchannels", "&" + ChannelPattern, "-@all"}
	for _, c := range Commands {
		rules = append(rules, "+"+c.ACL)
	}
	return rules
}

// ACLSetUser is the ACL SETUSER line for an operator, with PASSWORD to
// replace.
func ACLSetUser(user string) string {
	return "ACL SETUSER " + user + " on >PASSWORD " + strings.Join(ACLRules(), " ")
}
