package zsync

import (
	"context"
	"errors"
	"fmt"
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
}

// NewStore returns a store; partitions ≤ 0 means DefaultPartitions.
func NewStore(rdb redis.UniversalClient, partitions int, tombstoneTTL time.Duration) *Store {
	if partitions <= 0 {
		partitions = DefaultPartitions
	}
	return &Store{rdb: rdb, keys: keyspace{partitions: partitions}, tombstoneTTL: tombstoneTTL}
}

// applyScript writes each field whose version is strictly newer than the
// stored one, keeps the email and extension indices pointing at the user,
// keeps 'vmax' at the newest version of any field (what the resync asks
// of every user), and makes the record a tombstone (expiring) while its
// status is deleted.
//
// KEYS[1] user hash, KEYS[2] email index, KEYS[3] extension index,
// KEYS[4] partition members set (all in one slot).
// ARGV[1] user key, ARGV[2] account id, ARGV[3] tombstone TTL (ms), then
// triples (field, version, value).
// Returns the number of fields written: 0 means every fact was stale.
var applyScript = redis.NewScript(`
local user, account, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local applied = 0
local vmax = tonumber(redis.call('HGET', KEYS[1], 'vmax') or '0')
local function reindex(index, old, new)
  if old and old ~= '' and old ~= new and redis.call('HGET', index, old) == user then
    redis.call('HDEL', index, old)
  end
  if new ~= '' then redis.call('HSET', index, new, user) end
end
for i = 4, #ARGV, 3 do
  local field, version, value = ARGV[i], ARGV[i+1], ARGV[i+2]
  local current = redis.call('HGET', KEYS[1], 'v:' .. field)
  if not current or tonumber(version) > tonumber(current) then
    if field == 'email' then
      local old = redis.call('HGET', KEYS[1], 'email')
      reindex(KEYS[2], old and string.lower(old), string.lower(value))
    elseif field == 'extension' then
      reindex(KEYS[3], redis.call('HGET', KEYS[1], 'extension'), value)
    end
    redis.call('HSET', KEYS[1], field, value, 'v:' .. field, version)
    applied = applied + 1
    if tonumber(version) > vmax then vmax = tonumber(version) end
  end
end
if applied > 0 then
  redis.call('HSET', KEYS[1], 'key', user, 'account', account, 'vmax', string.format('%d', vmax))
  redis.call('SADD', KEYS[4], user)
  if redis.call('HGET', KEYS[1], 'user_status') == 'deleted' then
    redis.call('PEXPIRE', KEYS[1], ttl)
  else
    redis.call('PERSIST', KEYS[1])
  end
end
return applied
`)

func (s *Store) scriptArgs(w Write) ([]string, []any, error) {
	if w.Account == "" || w.UserKey == "" {
		return nil, nil, errs.Errorf("zsync.Store.Apply", errs.Invalid, "write without account or user key")
	}
	p := s.keys.partition(w.UserKey)
	keys := []string{s.keys.user(w.Account, w.UserKey), s.keys.emailIndex(w.Account, p),
		s.keys.extensionIndex(w.Account, p), s.keys.members(w.Account, p)}
	args := make([]any, 0, 3+3*len(w.Fields))
	args = append(args, w.UserKey, w.Account, s.tombstoneTTL.Milliseconds())
	for _, f := range w.Fields {
		if f.Name == "" || strings.HasPrefix(f.Name, "v:") || f.Name == "key" || f.Name == "account" || f.Name == "vmax" {
			return nil, nil, errs.Errorf("zsync.Store.Apply", errs.Invalid, "field name %q is reserved", f.Name)
		}
		args = append(args, f.Name, int64(f.Version), f.Value)
	}
	return keys, args, nil
}

// Apply stores the write's newer facts and returns how many were newer.
func (s *Store) Apply(ctx context.Context, w Write) (int, error) {
	keys, args, err := s.scriptArgs(w)
	if err != nil {
		return 0, err
	}
	n, err := applyScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, unavailable("zsync.Store.Apply", err)
	}
	return n, nil
}

// ApplyBatch applies writes in one pipeline (a pulled page) and returns
// each write's count of newer facts.
func (s *Store) ApplyBatch(ctx context.Context, ws []Write) ([]int, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	out, err := s.applyBatch(ctx, ws)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		// A restarted or failed-over Redis forgot the script: load it and
		// replay (the writes are versioned, so replaying is harmless).
		if lerr := applyScript.Load(ctx, s.rdb).Err(); lerr != nil {
			return nil, unavailable("zsync.Store.ApplyBatch", lerr)
		}
		out, err = s.applyBatch(ctx, ws)
	}
	return out, err
}

func (s *Store) applyBatch(ctx context.Context, ws []Write) ([]int, error) {
	cmds := make([]*redis.Cmd, len(ws))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, w := range ws {
			keys, args, err := s.scriptArgs(w)
			if err != nil {
				return err
			}
			cmds[i] = applyScript.EvalSha(ctx, p, keys, args...)
		}
		return nil
	})
	if err != nil {
		if errs.KindOf(err) == errs.Invalid {
			return nil, err
		}
		return nil, unavailable("zsync.Store.ApplyBatch", err)
	}
	out := make([]int, len(ws))
	for i, c := range cmds {
		if out[i], err = c.Int(); err != nil {
			return nil, unavailable("zsync.Store.ApplyBatch", err)
		}
	}
	return out, nil
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
	return r, nil
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
	cmds := make([]*redis.StringCmd, s.keys.partitions)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range cmds {
			cmds[i] = p.HGet(ctx, index(account, i), value)
		}
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

// unavailable classifies a Redis failure.
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return errs.E(op, errs.Unavailable, fmt.Errorf("redis: %w", err))
}
