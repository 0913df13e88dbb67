package zsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
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
// the user's history stream (trimmed to the history window), puts it in
// the partition's outbox (one latest change per user: coalesced) and makes
// the user due at every target, then rings the partition's doorbell. It
// publishes the change on the zs:presence channel ("account\tuser") for
// live views. When the directory data a push carries (dir_id, dir_dn,
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
// KEYS: 1 email index, 2 extension index, 3 members set, 4 inbox stream,
// 5 outbox hash, 6 freshness zset, 7 open-calls zset, 8 doorbell list,
// 9 mapping inputs hash, 10..9+T the targets' due zsets (those receiving
// directory data first), then per user:
// record hash, history stream — all sharing the partition's hash tag, so
// one Cluster slot.
// ARGV: 1 account id, 2 tombstone TTL (ms), 3 consumer group, 4 history
// window (ms), 5 T, 6 D = how many of the targets receive directory data,
// 7 n = entries to acknowledge, 8..7+n their ids, then
// per user: user key, field count, and (field, version, value) triples.
// Returns, per user, the number of facts written: 0 means every fact was
// stale.
var applyScript = redis.NewScript(inputsLua + callsLua + `
local account, ttl, group = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local historyMS, ntargets, ndir, nack = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local function reindex(index, user, old, new)
  if old and old ~= '' and old ~= new and redis.call('HGET', index, old) == user then
    redis.call('HDEL', index, old)
  end
  if new ~= '' then redis.call('HSET', index, new, user) end
end
local function derived(f) return f == 'mapping' or string.sub(f, 1, 4) == 'dir_' end
-- The directory fields a push carries (target.Directory).
local pushedDir = {dir_id = true, dir_dn = true, dir_uid = true, dir_employee_number = true}
-- presence.Effective, in Lua.
local function effective(userStatus, callState, presence)
  if userStatus == 'inactive' or userStatus == 'deleted' or userStatus == 'pending' then return 'offline' end
  if callState == 'on_call' then return 'on_call' end
  if presence and presence ~= '' then return presence end
  return 'unknown'
end
local result = {}
local first = 10 + ntargets
local a = 8 + nack
for u = first, #KEYS, 2 do
  local rec, hist = KEYS[u], KEYS[u+1]
  local user, nfields = ARGV[a], tonumber(ARGV[a+1])
  a = a + 2
  -- One read of everything the comparisons need, one write of the result:
  -- each redis.call costs about a microsecond, a user has a dozen fields.
  local ask = {'vmax', 'email', 'extension', 'user_status', 'presence', 'call_state', 'status', 'status_seq',
    'employee_unique_id', 'dir_id', 'dir_rule', 'dir_sum'}
  local derivedOnly, hasCall = true, false
  -- Per field: where its version (and a pushed directory field's value) is in cur.
  local vpos, dpos, asked = {}, {}, {}
  for j = 0, nfields - 1 do
    local f = ARGV[a + 3*j]
    if string.sub(f, 1, 5) == 'call:' then
      hasCall = true
      derivedOnly = false
    elseif asked[f] then -- a duplicate compares with the same slots
      vpos[j], dpos[j] = asked[f][1], asked[f][2]
    else
      if not derived(f) then derivedOnly = false end
      ask[#ask+1] = 'v:' .. f
      vpos[j] = #ask
      if f == 'dir_id' then
        dpos[j] = 10
      elseif pushedDir[f] then
        ask[#ask+1] = f
        dpos[j] = #ask
      end
      asked[f] = {vpos[j], dpos[j]}
    end
  end
  local cpos = #ask + 1
  if hasCall then
    ask[#ask+1] = 'calls'; ask[#ask+1] = 'call_id'; ask[#ask+1] = 'v:call_state'
  end
  local cur = redis.call('HMGET', rec, unpack(ask))
  local vmax, email, ext, status = tonumber(cur[1] or '0'), cur[2], cur[3], cur[4]
  local presence, callState = cur[5], cur[6]
  local inputs = nil -- the mapping inputs (inputPos order), once one is applied
  local count = nfields
  if derivedOnly and not cur[1] then count = 0 end
  local set = {}
  local newest = 0
  local presenceAt = nil
  local calls, floor, callsApplied, callVersion, openBefore = nil, 0, 0, 0, nil
  local dirAt = nil -- version of a change of the directory data a push carries
  for j = 0, count - 1 do
    local i = a + 3*j
    local field, version, value = ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2]
    if not vpos[j] then -- one call's state
      if not calls then
        calls, floor = readCalls(cur[cpos], callState, cur[cpos+1], cur[cpos+2])
        openBefore = oldestOpen(calls)
      end
      local kind = 'o'
      if value == 'ended' then kind = 'e' end
      if callFact(calls, floor, string.sub(field, 6), version, kind) then
        callsApplied = callsApplied + 1
        if version > callVersion then callVersion = version end
        if version > vmax then vmax = version end
        if version > newest then newest = version end
      end
    else
      local current = cur[vpos[j]]
      if not current or version > tonumber(current) then
        cur[vpos[j]] = ARGV[i+1] -- a later duplicate of the field compares with this one
        if field == 'email' then
          reindex(KEYS[1], user, email and string.lower(email), string.lower(value))
          email = value
        elseif field == 'extension' then
          reindex(KEYS[2], user, ext, value)
          ext = value
        elseif field == 'user_status' then
          status = value
        elseif field == 'presence' then
          presence, presenceAt = value, math.floor(version / 2)
        end
        if dpos[j] and (cur[dpos[j]] or '') ~= value then
          cur[dpos[j]] = value
          dirAt = version
        end
        local ip = inputPos[field]
        if ip then
          inputs = inputs or {status, email, cur[9], ext, cur[10], cur[11], cur[12]}
          inputs[ip] = value
        end
        set[#set+1] = field
        set[#set+1] = value
        set[#set+1] = 'v:' .. field
        set[#set+1] = ARGV[i+1]
        if not derived(field) then
          if version > vmax then vmax = version end
          if version > newest then newest = version end
        end
      end
    end
  end
  a = a + 3*nfields
  local applied = #set / 4 + callsApplied
  local oldestCall = nil
  if callsApplied > 0 then
    calls, floor, oldestCall = trimCalls(calls, floor)
    if oldestCall then callState = 'on_call' else callState = 'idle' end
    set[#set+1] = 'calls'; set[#set+1] = writeCalls(calls, floor)
    set[#set+1] = 'call_state'; set[#set+1] = callState
    set[#set+1] = 'v:call_state'; set[#set+1] = string.format('%d', callVersion)
    if cur[cpos] == false and cur[cpos+1] then
      redis.call('HDEL', rec, 'call_id', 'v:call_id') -- the form before calls were tracked
    end
  end
  if applied > 0 then
    local eff = effective(status, callState, presence)
    local prev = cur[7] or ''
    local changed = false
    if newest > 0 and eff ~= prev then
      local at = math.floor(newest / 2)
      local seq = tonumber(cur[8] or '0') + 1
      set[#set+1] = 'status'; set[#set+1] = eff
      set[#set+1] = 'status_since'; set[#set+1] = tostring(at)
      set[#set+1] = 'status_seq'; set[#set+1] = tostring(seq)
      -- A new user of whom nothing is known yet ("" to unknown) is not news:
      -- no history entry, nothing to push.
      if prev ~= '' or eff ~= 'unknown' then
        changed = true
        redis.call('XADD', hist, 'MINID', '~', tostring(math.max(at - historyMS, 0)), '*', 'status', eff, 'previous', prev, 'at', tostring(at), 'seq', tostring(seq))
        redis.call('PEXPIRE', hist, historyMS)
        redis.call('HSET', KEYS[5], user, seq .. '|' .. eff .. '|' .. prev .. '|' .. at)
        for t = 10, 9 + ntargets do redis.call('ZADD', KEYS[t], at, user) end
        -- Live views (the board's stream) of every replica hear of it.
        redis.call('PUBLISH', 'zs:presence', account .. '\t' .. user)
        if ntargets > 0 then
          redis.call('LPUSH', KEYS[8], '1')
          redis.call('LTRIM', KEYS[8], 0, 0)
        end
      end
    end
    -- The directory data a push carries changed (a link appeared, changed
    -- or went) and the status did not: the targets that receive directory
    -- data (the first ndir) get the queued change once more, with a new
    -- seq and the same status, previous status and since. Not a status
    -- change: no history entry, status_since stays, live views are not told.
    if dirAt and not changed and ndir > 0 then
      local out = redis.call('HGET', KEYS[5], user)
      local rest = out and string.match(out, '^%d+(|.*)$')
      if rest then
        local seq = tonumber(cur[8] or '0') + 1
        set[#set+1] = 'status_seq'; set[#set+1] = tostring(seq)
        redis.call('HSET', KEYS[5], user, seq .. rest)
        local at = math.floor(dirAt / 2)
        for t = 10, 9 + ndir do redis.call('ZADD', KEYS[t], at, user) end
        redis.call('LPUSH', KEYS[8], '1')
        redis.call('LTRIM', KEYS[8], 0, 0)
      end
    end
    set[#set+1] = 'key'; set[#set+1] = user
    set[#set+1] = 'account'; set[#set+1] = account
    set[#set+1] = 'vmax'; set[#set+1] = string.format('%d', vmax)
    redis.call('HSET', rec, unpack(set))
    redis.call('SADD', KEYS[3], user)
    if inputs or not cur[1] then
      if status == 'deleted' then
        redis.call('HDEL', KEYS[9], user)
      else
        redis.call('HSET', KEYS[9], user, packInputs(inputs or {status, email, cur[9], ext, cur[10], cur[11], cur[12]}))
      end
    end
    if status == 'deleted' then
      redis.call('PEXPIRE', rec, ttl)
      redis.call('ZREM', KEYS[6], user)
      redis.call('ZREM', KEYS[7], user)
    else
      redis.call('PERSIST', rec)
      if presenceAt then
        redis.call('HSET', rec, 'confirmed_at', tostring(presenceAt))
      end
      -- Only active users' presence is worth re-reading.
      if status ~= 'active' then
        redis.call('ZREM', KEYS[6], user)
      elseif presenceAt then
        redis.call('ZADD', KEYS[6], presenceAt, user)
      else
        redis.call('ZADD', KEYS[6], 'NX', 0, user) -- never confirmed: read it soon
      end
      -- The open-calls index: when the user's oldest open call began (a
      -- ring missed while on another call, the commonest event of a
      -- queue, leaves it as it was).
      if callsApplied > 0 and oldestCall ~= openBefore then
        if oldestCall then redis.call('ZADD', KEYS[7], math.floor(oldestCall / 2), user) else redis.call('ZREM', KEYS[7], user) end
      end
    end
  end
  result[#result+1] = applied
end
if nack > 0 then
  redis.call('XACK', KEYS[4], group, unpack(ARGV, 8, 7 + nack))
end
return result
`)

// scriptOwned fields are written by the apply script itself.
var scriptOwned = map[string]bool{"key": true, "account": true, "vmax": true, FieldStatus: true,
	FieldStatusSince: true, FieldStatusSeq: true, FieldConfirmedAt: true, FieldCalls: true, FieldCallState: true}

// checkWrite refuses writes the script must never see.
func checkWrite(w Write) error {
	if w.Account == "" || w.UserKey == "" {
		return errs.Errorf("zsync.Store.Apply", errs.Invalid, "write without account or user key")
	}
	for _, f := range w.Fields {
		if f.Name == "" || strings.HasPrefix(f.Name, "v:") || scriptOwned[f.Name] {
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

func (s *Store) scriptArgs(c *partitionCall) ([]string, []any) {
	k := s.keys
	targets, ndir := s.order, s.ndir
	keys := make([]string, 0, 9+len(targets)+2*len(c.writes))
	keys = append(keys, k.emailIndex(c.account, c.partition), k.extensionIndex(c.account, c.partition),
		k.members(c.account, c.partition), k.inbox(c.account, c.partition), k.outbox(c.account, c.partition),
		k.freshness(c.account, c.partition), k.openCalls(c.account, c.partition), k.doorbell(c.account, c.partition),
		k.mappingInputs(c.account, c.partition))
	for _, t := range targets {
		keys = append(keys, k.due(c.account, c.partition, t))
	}
	n := 7 + len(c.ack)
	for _, w := range c.writes {
		n += 2 + 3*len(w.Fields)
	}
	args := make([]any, 0, n)
	args = append(args, c.account, s.tombstoneTTL.Milliseconds(), ConsumerGroup, s.history.Milliseconds(), len(targets), ndir, len(c.ack))
	for _, id := range c.ack {
		args = append(args, id)
	}
	for _, w := range c.writes {
		keys = append(keys, k.user(c.account, w.UserKey), k.history(c.account, w.UserKey))
		args = append(args, w.UserKey, len(w.Fields))
		for _, f := range w.Fields {
			args = append(args, f.Name, int64(f.Version), f.Value)
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
	if lerr := applyScript.Load(ctx, s.rdb).Err(); lerr != nil {
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
			cmds[i] = applyScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	var noScript []*partitionCall
	for i, c := range calls {
		counts, err := cmds[i].Int64Slice()
		if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
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

func recordOf(account, userKey string, m map[string]string) *Record {
	r := &Record{Account: account, Key: userKey, Fields: map[string]string{}, Versions: map[string]Version{}}
	for k, v := range m {
		switch {
		case k == "key" || k == "account" || k == "vmax":
		case strings.HasPrefix(k, "v:"):
			n, _ := strconv.ParseInt(v, 10, 64)
			r.Versions[k[2:]] = Version(n)
		default:
			r.Fields[k] = v
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

// unavailable classifies a Redis failure.
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return errs.E(op, errs.Unavailable, fmt.Errorf("redis: %w", err))
}
