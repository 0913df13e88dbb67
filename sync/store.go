package zsync

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/luascript"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// Field names with a meaning to the store itself; every other field is
// opaque to it.
const (
	FieldEmail      = "email"
	FieldExtension  = "extension"
	FieldUserStatus = "user_status" // active, inactive, pending, deleted
	StatusDeleted   = "deleted"
)

// FieldWrite is one fact to store if its version is newer.
type FieldWrite struct {
	Name    string
	Version Version
	Value   string
}

// Write is a set of facts about one user.
type Write struct {
	Account string
	UserKey string // Zoom user id, or pendingKey(email)
	Fields  []FieldWrite
}

// Store keeps versioned user records in Redis.
type Store struct {
	rdb          redis.UniversalClient
	keys         keyspace
	tombstoneTTL time.Duration
	targets      []string      // presence targets a status change is queued for
	withDir      []string      // those of them that receive directory data (re-pushed when it changes)
	order        []string      // targets as the apply script takes them: the withDir ones first
	ndir         int           // how many of order receive directory data
	history      time.Duration // how long presence history is kept
}

// DefaultHistory is how long a user's status history is kept.
const DefaultHistory = 7 * 24 * time.Hour

// WithPresence sets the targets every status change is queued for (in the
// same step as the change) and the history window. It returns s.
func (s *Store) WithPresence(targets []string, history time.Duration) *Store {
	s.targets = append([]string(nil), targets...)
	if history > 0 {
		s.history = history
	}
	s.order, s.ndir = s.targetOrder()
	return s
}

// WithDirectoryTargets names those of the targets that receive the
// user's directory data: when the directory data a push carries changes
// (a link appears, changes or goes) without a status change, they get the
// user's current status once more. It returns s.
func (s *Store) WithDirectoryTargets(names []string) *Store {
	s.withDir = append([]string(nil), names...)
	s.order, s.ndir = s.targetOrder()
	return s
}

// Targets lists the targets status changes are queued for.
func (s *Store) Targets() []string { return s.targets }

// targetOrder is the targets as the apply script takes them: those that
// receive directory data first, and how many they are.
func (s *Store) targetOrder() ([]string, int) {
	order := make([]string, 0, len(s.targets))
	for _, t := range s.targets {
		if slices.Contains(s.withDir, t) {
			order = append(order, t)
		}
	}
	ndir := len(order)
	for _, t := range s.targets {
		if !slices.Contains(s.withDir, t) {
			order = append(order, t)
		}
	}
	return order, ndir
}

// NewStore returns a store; partitions ≤ 0 means DefaultPartitions.
func NewStore(rdb redis.UniversalClient, partitions int, tombstoneTTL time.Duration) *Store {
	if partitions <= 0 {
		partitions = DefaultPartitions
	}
	return &Store{rdb: rdb, keys: keyspace{partitions: partitions}, tombstoneTTL: tombstoneTTL, history: DefaultHistory}
}

// applyScript applies the writes of several users of one partition, and
// optionally acknowledges the inbox entries they came from, atomically: an
// entry is acknowledged if and only if its facts were written (or found
// stale), whatever crashes, so a retried delivery never half-applies.
//
// For each user it writes each field whose version is strictly newer than
// the stored one, keeps the email and extension indices pointing at the
// user (never removing another user's entry), keeps 'vmax' at the newest
// version of any Zoom fact (what the resync asks of every user), and makes
// the record a tombstone (expiring) while its status is deleted. Derived
// fields (dir_*, mapping: the directory link) do not move vmax and are
// dropped for a user without a record, so a link never resurrects a user.
// A "call:ID" fact is one call's state: it updates the user's calls
// (calls.go) and call_state, the open-calls index, never a field of its
// own.
//
// In the same step it recomputes the user's effective status (the same
// function as presence.Effective, kept in step by a test) and, when it
// changed, records it (status, status_since, status_seq), appends it to
// the user's history list (history.go), puts it in the partition's outbox
// (one latest change per user: coalesced) and makes the user due at every
// target; once per call it rings the partition's doorbell and publishes
// on the zs:presence channel, in one message (FormatChanges), every user
// of whom any fact was written: every replica's read model re-reads them. When the directory data a push carries (dir_id, dir_dn,
// dir_uid, dir_employee_number) changes value and the status does not, the
// queued change is queued once more with a new seq (status_seq moves; the
// status, status_since and history do not) for the targets that receive
// directory data. It also keeps the freshness index (when presence was
// last confirmed) and the open-calls index (when the user's oldest open
// call began) that the presence sweeper reads, and the partition's
// mapping inputs (inputs.go): a user's entry is rewritten from the record
// whenever a write creates the record or applies one of the inputs, and
// removed while the user is deleted.
//
// Its slots are applyKeys and applyArgs (scripts.go); its source is
// inputs.lua, calls.lua and apply.lua. It returns, per user, the number
// of facts written: 0 means every fact was stale.
var applyScript = luascript.New[applyKeys, applyArgs](scripts, applyConsts, "inputs.lua", "calls.lua", "apply.lua")

// scriptOwned fields are written by the apply script itself.
var scriptOwned = map[string]bool{"key": true, "account": true, "vmax": true, FieldStatus: true,
	FieldStatusSince: true, FieldStatusSeq: true, FieldConfirmedAt: true, FieldCalls: true, FieldCallState: true}

// checkWrite refuses writes the script must never see.
func checkWrite(w Write) error {
	if w.Account == "" || w.UserKey == "" {
		return errs.Errorf("zsync.Store.Apply", errs.Invalid, "write without account or user key")
	}
	for _, f := range w.Fields {
		if f.Name == "" || strings.HasPrefix(f.Name, "v:") || isGroupVersionField(f.Name) || scriptOwned[f.Name] {
			return errs.Errorf("zsync.Store.Apply", errs.Invalid, "field name %q is reserved", f.Name)
		}
		if id, ok := strings.CutPrefix(f.Name, CallFieldPrefix); ok && (!validCallID(id) || (f.Value != CallOpen && f.Value != CallEnded)) {
			return errs.Errorf("zsync.Store.Apply", errs.Invalid, "call fact %q = %q: want a call id of letters, digits, '-', '_' or '.' (at most %d) and %s or %s",
				f.Name, f.Value, maxCallIDLen, CallOpen, CallEnded)
		}
	}
	return nil
}

// partitionCall is one applyScript call: the writes of one partition of
// one account, and the inbox entries to acknowledge with them.
type partitionCall struct {
	account   string
	partition int
	writes    []Write
	index     []int // position of each write in the caller's slice
	ack       []string
}

func (s *Store) scriptArgs(c *partitionCall) (applyKeys, applyArgs) {
	k := s.keys
	targets, ndir := s.order, s.ndir
	keys := applyKeys{EmailIndex: k.emailIndex(c.account, c.partition), ExtensionIndex: k.extensionIndex(c.account, c.partition),
		Members: k.members(c.account, c.partition), Inbox: k.inbox(c.account, c.partition), Outbox: k.outbox(c.account, c.partition),
		Freshness: k.freshness(c.account, c.partition), OpenCalls: k.openCalls(c.account, c.partition), Doorbell: k.doorbell(c.account, c.partition),
		MappingInputs: k.mappingInputs(c.account, c.partition),
		Due:           make([]string, 0, len(targets)+2*len(c.writes))}
	for _, t := range targets {
		keys.Due = append(keys.Due, k.due(c.account, c.partition, t))
	}
	n := len(c.ack)
	for _, w := range c.writes {
		n += 2 + 3*len(w.Fields)
	}
	args := applyArgs{Account: c.account, TombstoneMS: s.tombstoneTTL.Milliseconds(), Group: ConsumerGroup, HistoryMS: s.history.Milliseconds(),
		Targets: len(targets), DirTargets: ndir, Acks: len(c.ack), AckIDs: make([]any, 0, n)}
	for _, id := range c.ack {
		args.AckIDs = append(args.AckIDs, id)
	}
	for _, w := range c.writes {
		keys.Due = append(keys.Due, k.user(c.account, w.UserKey), k.historyList(c.account, w.UserKey))
		args.AckIDs = append(args.AckIDs, w.UserKey, len(w.Fields))
		for _, f := range w.Fields {
			args.AckIDs = append(args.AckIDs, f.Name, int64(f.Version), f.Value)
		}
	}
	return keys, args
}

// Apply stores the write's newer facts and returns how many were newer.
func (s *Store) Apply(ctx context.Context, w Write) (int, error) {
	n, err := s.ApplyBatch(ctx, []Write{w})
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// ApplyBatch applies writes (a pulled page, say) with one script call per
// partition, all in one pipeline, and returns each write's count of newer
// facts.
func (s *Store) ApplyBatch(ctx context.Context, ws []Write) ([]int, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	calls := map[[2]string]*partitionCall{}
	var order []*partitionCall
	for i, w := range ws {
		if err := checkWrite(w); err != nil {
			return nil, err
		}
		p := s.keys.partition(w.UserKey)
		id := [2]string{w.Account, strconv.Itoa(p)}
		c := calls[id]
		if c == nil {
			c = &partitionCall{account: w.Account, partition: p}
			calls[id] = c
			order = append(order, c)
		}
		c.writes = append(c.writes, w)
		c.index = append(c.index, i)
	}
	out := make([]int, len(ws))
	if err := s.run(ctx, order, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ApplyAndAck applies writes that all belong to one partition of one
// account and acknowledges the inbox entries ids in the same atomic step.
func (s *Store) ApplyAndAck(ctx context.Context, account string, partition int, ws []Write, ids []string) ([]int, error) {
	c := &partitionCall{account: account, partition: partition, writes: ws, ack: ids}
	for i, w := range ws {
		if err := checkWrite(w); err != nil {
			return nil, err
		}
		if w.Account != account || s.keys.partition(w.UserKey) != partition {
			return nil, errs.Errorf("zsync.Store.ApplyAndAck", errs.Invalid, "write for %s/%s is not in partition %d", w.Account, w.UserKey, partition)
		}
		c.index = append(c.index, i)
	}
	out := make([]int, len(ws))
	if err := s.run(ctx, []*partitionCall{c}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// run sends the calls in one pipeline; a Redis node that lacks the script
// (new, restarted, failed over) gets it loaded and the calls it refused
// sent again.
func (s *Store) run(ctx context.Context, calls []*partitionCall, out []int) error {
	retry, err := s.runOnce(ctx, calls, out)
	if err != nil || len(retry) == 0 {
		return err
	}
	// Only the calls whose node lacked the script run again: the others
	// were applied, and applying them twice would report their fields as
	// stale (0 written) to the caller's counts.
	if lerr := applyScript.Load(ctx, s.rdb); lerr != nil {
		return unavailable("zsync.Store.Apply", lerr)
	}
	if retry, err = s.runOnce(ctx, retry, out); err == nil && len(retry) > 0 {
		err = unavailable("zsync.Store.Apply", errors.New("NOSCRIPT after loading the apply script"))
	}
	return err
}

// runOnce sends calls in one pipeline and records their counts in out; it
// returns the calls a node answered NOSCRIPT to (not applied).
func (s *Store) runOnce(ctx context.Context, calls []*partitionCall, out []int) ([]*partitionCall, error) {
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range calls {
			keys, args := s.scriptArgs(c)
			cmds[i] = applyScript.EvalSha(ctx, p, keys, args)
		}
		return nil
	})
	var noScript []*partitionCall
	for i, c := range calls {
		counts, err := cmds[i].Int64Slice()
		if errs.Is(errs.NotFound, redisconn.Classify("zsync.Store.Apply", err)) { // NOSCRIPT
			noScript = append(noScript, c)
			continue
		}
		if err != nil {
			return nil, unavailable("zsync.Store.Apply", err)
		}
		if len(counts) != len(c.writes) {
			return nil, errs.Errorf("zsync.Store.Apply", errs.Permanent, "script answered %d counts for %d writes", len(counts), len(c.writes))
		}
		for j, n := range counts {
			out[c.index[j]] = int(n)
		}
	}
	return noScript, nil
}

// Record is a user's stored facts.
type Record struct {
	Account  string
	Key      string
	Fields   map[string]string
	Versions map[string]Version
}

// Deleted reports whether the record is a tombstone.
func (r *Record) Deleted() bool { return r.Fields[FieldUserStatus] == StatusDeleted }

// ErrNotFound is returned for users the store does not hold.
var ErrNotFound = errs.E("zsync.Store", errs.NotFound, errors.New("no such user"))

// User reads one record.
func (s *Store) User(ctx context.Context, account, userKey string) (*Record, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.user(account, userKey)).Result()
	if err != nil {
		return nil, unavailable("zsync.Store.User", err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	return recordOf(account, userKey, m), nil
}

// recordOf reads a record's hash: a field without a version of its own
// has its group's (versiongroups.go).
func recordOf(account, userKey string, m map[string]string) *Record {
	r := &Record{Account: account, Key: userKey, Fields: map[string]string{}, Versions: map[string]Version{}}
	for k, v := range m {
		switch {
		case k == "key" || k == "account" || k == "vmax" || isGroupVersionField(k):
		case strings.HasPrefix(k, "v:"):
			n, _ := strconv.ParseInt(v, 10, 64)
			r.Versions[k[2:]] = Version(n)
		default:
			r.Fields[k] = v
		}
	}
	for f := range r.Fields {
		if _, own := r.Versions[f]; own {
			continue
		}
		if g, ok := versionGroup[f]; ok {
			if v, ok := m[groupVersionField(g)]; ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				r.Versions[f] = Version(n)
			}
		}
	}
	return r
}

// LookupEmail returns the keys of an account's users with this email (one
// pipeline over the account's partitions). More than one means the email
// index is being moved or is ambiguous; the caller decides.
func (s *Store) LookupEmail(ctx context.Context, account, email string) ([]string, error) {
	return s.lookup(ctx, account, strings.ToLower(strings.TrimSpace(email)), s.keys.emailIndex)
}

// LookupExtension returns the keys of an account's users with this phone
// extension.
func (s *Store) LookupExtension(ctx context.Context, account, ext string) ([]string, error) {
	return s.lookup(ctx, account, strings.TrimSpace(ext), s.keys.extensionIndex)
}

func (s *Store) lookup(ctx context.Context, account, value string, index func(string, int) string) ([]string, error) {
	var cmds []*redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmds = s.indexProbes(ctx, p, account, value, index)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("zsync.Store.lookup", err)
	}
	var keys []string
	for _, c := range cmds {
		if k, err := c.Result(); err == nil {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// indexProbes queues the read of value in an index of every partition of
// an account (a value's partition is not known from the value).
func (s *Store) indexProbes(ctx context.Context, p redis.Pipeliner, account, value string, index func(string, int) string) []*redis.StringCmd {
	cmds := make([]*redis.StringCmd, s.keys.partitions)
	for i := range cmds {
		cmds[i] = p.HGet(ctx, index(account, i), value)
	}
	return cmds
}

// unavailable classifies a Redis failure (redisconn.Classify: all but a
// few answers are errs.Unavailable).
func unavailable(op string, err error) error { return redisconn.Classify(op, err) }
