package zsync

import (
	"embed"

	"github.com/zoomsync/zoomsync/internal/luascript"
)

// The reconciler's Lua scripts, one .lua file each (apply.lua with its
// parts inputs.lua and calls.lua, rebuild_inputs.lua, outbox_settle.lua),
// and their slots: each struct's fields are, in order, the script's KEYS
// or ARGV, bound to the names in their lua tags (package luascript).
//
//go:embed *.lua
var scripts embed.FS

// applyKeys are the apply script's KEYS: one partition's keys, sharing
// its hash tag (one Cluster slot).
type applyKeys struct {
	EmailIndex     string `lua:"emailIndex"`
	ExtensionIndex string `lua:"extensionIndex"`
	Members        string `lua:"members"`
	Inbox          string `lua:"inbox"`
	Outbox         string `lua:"outbox"`
	Freshness      string `lua:"freshness"`
	OpenCalls      string `lua:"openCalls"`
	Doorbell       string `lua:"doorbell"`
	MappingInputs  string `lua:"mappingInputs"`
	// The targets' due zsets (those receiving directory data first), then
	// per user: record hash, history list.
	Due []string `lua:"dueKeys"`
}

// applyArgs are the apply script's ARGV.
type applyArgs struct {
	Account     string `lua:"account"`
	TombstoneMS int64  `lua:"tombstoneMS"`
	Group       string `lua:"group"` // the inbox consumer group
	HistoryMS   int64  `lua:"historyMS"`
	Targets     int    `lua:"ntargets"`
	DirTargets  int    `lua:"ndir"` // how many of the targets receive directory data
	Acks        int    `lua:"nack"`
	// The inbox entry ids to acknowledge, then per user: user key, field
	// count, and (field, version, value) triples.
	AckIDs []any `lua:"ackIDs"`
}

// applyConsts are Go's constants the apply script uses.
var applyConsts = []luascript.Const{
	{Name: "presenceChannel", Value: PresenceChannel},
	{Name: "maxOpenCalls", Value: MaxOpenCalls},
	{Name: "maxEndedCalls", Value: MaxEndedCalls},
	{Name: "callMemory", Value: 2 * CallMemory}, // in versions (ms·2)
	{Name: "maxCallIDLen", Value: maxCallIDLen},
	{Name: "historyTrimEvery", Value: historyTrimEvery},
	{Name: "maxHistoryEntries", Value: maxHistoryEntries},
	{Name: "versionGroup", Value: versionGroup},
	{Name: "versionGroupSize", Value: versionGroupSize},
	{Name: "groupVersionPrefix", Value: GroupVersionPrefix},
}

// rebuildInputsKeys: the partition's mapping inputs hash, then the
// records of the users to rewrite.
type rebuildInputsKeys struct {
	MappingInputs string   `lua:"mappingInputs"`
	Records       []string `lua:"records"`
}

// rebuildInputsArgs: the users' keys, in the records' order.
type rebuildInputsArgs struct {
	Users []any `lua:"users"`
}

// settleKeys are one target's delivery state of a partition.
type settleKeys struct {
	Outbox  string `lua:"outbox"`
	Sent    string `lua:"sent"`
	Failing string `lua:"failing"`
	Due     string `lua:"due"`
}

// settleArgs: (user, seq, repeat at ms or 0, failing 1 or 0) per settled
// change.
type settleArgs struct {
	Settles []any `lua:"settles"`
}
