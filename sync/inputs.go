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

	"github.com/sourcegraph/conc/pool"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/luascript"
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

// rebuildInputsScript rewrites the entries of some users of a partition
// from their records (rebuild_inputs.lua, after inputs.lua: packInputs
// writes an entry as a JSON array of the values, in inputPos order —
// cjson, in C, packs one in a third of the time Lua string building
// takes).
var rebuildInputsScript = luascript.New[rebuildInputsKeys, rebuildInputsArgs](scripts, nil, "inputs.lua", "rebuild_inputs.lua")

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
		keys := rebuildInputsKeys{MappingInputs: key, Records: make([]string, len(chunk))}
		args := rebuildInputsArgs{Users: make([]any, len(chunk))}
		for i, u := range chunk {
			keys.Records[i], args.Users[i] = s.keys.user(account, u), u
		}
		if err := rebuildInputsScript.Run(ctx, s.rdb, keys, args).Err(); err != nil {
			return unavailable(op, err)
		}
	}
	if err := s.rdb.HSet(ctx, key, inputsComplete, time.Now().UTC().Format(time.RFC3339)).Err(); err != nil {
		return unavailable(op, err)
	}
	return nil
}

// inputsSeparator separates the values of a packed entry.
const inputsSeparator = "\x1f"

// unpackInputs reads an entry packed by packInputs: its values separated
// by inputsSeparator, or (a value holding the separator, an entry that
// would start with '[', and every entry written before the separator
// form) a JSON array of them. A JSON entry's values without an escape
// (all but a rare few) are cut out of the entry in place.
//
// The separator form is ~20 bytes shorter than the JSON array (quotes,
// commas, brackets): at ~125 bytes an entry's value fell into Redis's
// 160-byte allocation, at ~105 into the 112-byte one.
func unpackInputs(user, packed string) (MappingInput, error) {
	var v [7]string
	if !strings.HasPrefix(packed, "[") {
		rest := packed
		for i := range v {
			var found bool
			v[i], rest, found = strings.Cut(rest, inputsSeparator)
			if found == (i == len(v)-1) {
				return MappingInput{}, errMalformedInputs(user, packed)
			}
		}
	} else if strings.IndexByte(packed, '\\') >= 0 {
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
