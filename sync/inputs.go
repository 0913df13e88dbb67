package zsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc/pool"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// The mapping inputs of a partition are one hash, user key → what a
// mapping run needs of the user (its status, email, employee unique id,
// extension and current directory link), packed. A mapping run reads a
// partition's users with one HGETALL instead of one HMGET per record:
// Redis answers a field of a hash in a tenth of what a command costs it.
//
// Invariants:
//   - The apply script keeps each entry in step with its record in the
//     same atomic step: it rewrites the entry from the record whenever a
//     write creates the record or applies one of the inputs, and removes it
//     while the user is deleted. So an entry never lags its record.
//   - The field "" marks the hash complete: rebuilt from every record of
//     the partition. A hash without it (written by none yet, or by a
//     version that did not keep it; purged; evicted) is rebuilt before it
//     is read; a rebuild only rewrites entries from their records, so
//     rebuilds running at once, or beside the apply script, agree.
//   - A write made meanwhile by an older replica during a rolling upgrade
//     (which does not keep the hash) can leave an entry behind its record
//     until the user's inputs are next written; every full pull writes
//     them all, so the nightly resync repairs it.

// inputsComplete is the field that marks a mapping inputs hash complete.
const inputsComplete = ""

// mappingInputs is the hash of a partition's mapping inputs.
func (k keyspace) mappingInputs(account string, p int) string { return k.tag(account, p) + ":mapin" }

// inputsLua packs a user's inputs (a table by field name) as the hash
// holds them: a JSON array of the values, in inputPos order (cjson, in
// C, packs one in a third of the time Lua string building takes). Shared
// by the apply and rebuild scripts.
const inputsLua = `
local inputPos = {user_status = 1, email = 2, employee_unique_id = 3, extension = 4, dir_id = 5, dir_rule = 6, dir_sum = 7}
local function packInputs(a) -- a: the values by position; missing ones are nil or false
  for i = 1, 7 do a[i] = a[i] or '' end
  return cjson.encode(a)
end
`

// rebuildInputsScript rewrites the entries of some users of a partition
// from their records.
//
// KEYS: 1 mapping inputs hash, then the users' records. ARGV: the users'
// keys, in the same order.
var rebuildInputsScript = redis.NewScript(inputsLua + `
for i = 2, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'vmax', 'user_status', 'email', 'employee_unique_id', 'extension', 'dir_id', 'dir_rule', 'dir_sum')
  if v[1] and v[2] ~= 'deleted' then
    redis.call('HSET', KEYS[1], ARGV[i-1], packInputs({v[2], v[3], v[4], v[5], v[6], v[7], v[8]}))
  else
    redis.call('HDEL', KEYS[1], ARGV[i-1])
  end
end
return #KEYS - 1
`)

// MappingInput is what a mapping run needs of a live user (existing, not
// deleted).
type MappingInput struct {
	Key              string
	Status           string
	Email            string
	EmployeeUniqueID string
	Extension        string
	DirID            string // the current link: FieldDirID
	DirRule          string // FieldDirRule
	DirSum           string // FieldDirSum
}

// MappingInputs returns every live user of an account with its mapping
// inputs, in no set order. Partitions are read a few at once; one whose
// hash is not complete is rebuilt from its records first.
func (s *Store) MappingInputs(ctx context.Context, account string) ([]MappingInput, error) {
	parts := make([][]MappingInput, s.keys.partitions)
	p := pool.New().WithErrors().WithContext(ctx).WithMaxGoroutines(scanConcurrency).WithCancelOnError()
	for part := range parts {
		p.Go(func(ctx context.Context) error {
			var err error
			parts[part], err = s.partitionInputs(ctx, account, part)
			return err
		})
	}
	if err := p.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(parts...), nil
}

// partitionInputs reads one partition's inputs, rebuilding its hash once
// when it is not complete or holds an entry it cannot read.
func (s *Store) partitionInputs(ctx context.Context, account string, p int) ([]MappingInput, error) {
	const op = "zsync.Store.MappingInputs"
	key := s.keys.mappingInputs(account, p)
	for rebuilt := false; ; rebuilt = true {
		m, err := s.rdb.HGetAll(ctx, key).Result()
		if err != nil {
			return nil, unavailable(op, err)
		}
		_, complete := m[inputsComplete]
		var bad error
		out := make([]MappingInput, 0, len(m))
		if complete {
			for user, packed := range m {
				if user == inputsComplete {
					continue
				}
				in, err := unpackInputs(user, packed)
				if err != nil {
					bad = err
					break
				}
				out = append(out, in)
			}
			if bad == nil {
				return out, nil
			}
		}
		if rebuilt {
			if bad != nil {
				return nil, errs.E(op, errs.Permanent, fmt.Errorf("%s after a rebuild: %w", key, bad))
			}
			// Deleted again meanwhile (a purge): ask again later.
			return nil, errs.Errorf(op, errs.Transient, "%s is not complete after a rebuild", key)
		}
		if err := s.rebuildInputs(ctx, account, p); err != nil {
			return nil, err
		}
	}
}

// rebuildInputs rewrites every entry of a partition's inputs hash from
// the records, a thousand per script call, then marks the hash complete.
// Users created meanwhile are written by the apply script itself.
func (s *Store) rebuildInputs(ctx context.Context, account string, p int) error {
	const op = "zsync.Store.rebuildInputs"
	key := s.keys.mappingInputs(account, p)
	members, err := s.rdb.SMembers(ctx, s.keys.members(account, p)).Result()
	if err != nil {
		return unavailable(op, err)
	}
	for chunk := range slices.Chunk(members, 1000) {
		keys := make([]string, 1, len(chunk)+1)
		keys[0] = key
		args := make([]any, len(chunk))
		for i, u := range chunk {
			keys = append(keys, s.keys.user(account, u))
			args[i] = u
		}
		if err := rebuildInputsScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
			return unavailable(op, err)
		}
	}
	if err := s.rdb.HSet(ctx, key, inputsComplete, time.Now().UTC().Format(time.RFC3339)).Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// unpackInputs reads an entry packed by packInputs. Values without an
// escape (all but a rare few) are cut out of the entry in place.
func unpackInputs(user, packed string) (MappingInput, error) {
	var v [7]string
	if strings.IndexByte(packed, '\\') >= 0 {
		var a []string
		if err := json.Unmarshal([]byte(packed), &a); err != nil || len(a) != len(v) {
			return MappingInput{}, errMalformedInputs(user, packed)
		}
		copy(v[:], a)
	} else {
		// No backslash: no value holds a quote, so `","` only separates.
		rest, okPrefix := strings.CutPrefix(packed, `["`)
		rest, okSuffix := strings.CutSuffix(rest, `"]`)
		if !okPrefix || !okSuffix {
			return MappingInput{}, errMalformedInputs(user, packed)
		}
		for i := range v {
			var found bool
			v[i], rest, found = strings.Cut(rest, `","`)
			if found == (i == len(v)-1) {
				return MappingInput{}, errMalformedInputs(user, packed)
			}
		}
	}
	return MappingInput{Key: user, Status: v[0], Email: v[1], EmployeeUniqueID: v[2], Extension: v[3],
		DirID: v[4], DirRule: v[5], DirSum: v[6]}, nil
}

func errMalformedInputs(user, packed string) error {
	return errors.New("malformed mapping inputs of user " + strconv.Quote(user) + ": " + strconv.Quote(truncate(packed, 80)))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
