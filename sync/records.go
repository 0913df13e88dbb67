package zsync

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc/pool"
)

// UserRef names a user of an account ("account/userKey" in the mapping's
// lookup indices).
type UserRef struct{ Account, Key string }

func (r UserRef) String() string { return r.Account + "/" + r.Key }

// ParseUserRef parses "account/userKey".
func ParseUserRef(s string) (UserRef, bool) {
	a, k, ok := strings.Cut(s, "/")
	return UserRef{a, k}, ok && a != "" && k != ""
}

// ScanUsers calls fn for every live (existing, not tombstoned) record of
// an account with its status and the values of the asked fields, in the
// order asked, a thousand records per round trip, so memory stays bounded
// at a million users. Partitions are read a few at once (a round trip's
// wait overlaps another's decoding); fn is called by one goroutine at a
// time, in no set order across partitions. vals is reused between calls.
func (s *Store) ScanUsers(ctx context.Context, account string, fields []string, fn func(key, status string, vals []string)) error {
	var mu sync.Mutex
	p := pool.New().WithErrors().WithContext(ctx).WithMaxGoroutines(scanConcurrency).WithCancelOnError()
	for part := 0; part < s.keys.partitions; part++ {
		p.Go(func(ctx context.Context) error {
			members, err := s.rdb.SMembers(ctx, s.keys.members(account, part)).Result()
			if err != nil {
				return unavailable("zsync.ScanUsers", err)
			}
			return s.liveRecords(ctx, account, members, fields, func(key, status string, vals []string) {
				mu.Lock()
				defer mu.Unlock()
				fn(key, status, vals)
			})
		})
	}
	return p.Wait()
}

// liveRecords reads the asked fields of the records of keys, a thousand
// per round trip, and calls fn for those that are live (existing, not
// tombstoned) with their status. vals is reused between calls.
func (s *Store) liveRecords(ctx context.Context, account string, keys, fields []string, fn func(key, status string, vals []string)) error {
	ask := append([]string{"vmax", FieldUserStatus}, fields...)
	vals := make([]string, len(fields))
	for chunk := range slices.Chunk(keys, 1000) {
		cmds := make([]*redis.SliceCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, k := range chunk {
				cmds[i] = pl.HMGet(ctx, s.keys.user(account, k), ask...)
			}
			return nil
		})
		if err != nil {
			return unavailable("zsync.Store.liveRecords", err)
		}
		for i, c := range cmds {
			v := c.Val()
			vmax, _ := v[0].(string)
			status, _ := v[1].(string)
			if vmax == "" || status == StatusDeleted {
				continue // expired (gone from the hash) or tombstone
			}
			for j := range vals {
				vals[j], _ = v[j+2].(string)
			}
			fn(chunk[i], status, vals)
		}
	}
	return nil
}

// scanConcurrency is how many partitions ScanUsers reads at once.
const scanConcurrency = 4

// ProbeKey queues on p the reads that find the users a helpdesk key names
// on the Zoom side of the accounts: the key itself as a user key (unless
// it is an email), an email in every partition's email index, a number
// of up to 15 digits in the extension index. The returned func, called
// once p has run, lists the users found, account by account. (The
// directory side, a uid or employee number, is in the mapping's lookup
// indices: mapping/mapstore.ProbeKey.)
func (s *Store) ProbeKey(ctx context.Context, p redis.Pipeliner, accounts []string, key string) func() []UserRef {
	key = strings.TrimSpace(key)
	email := strings.Contains(key, "@")
	digits := key != "" && strings.Trim(key, "0123456789") == "" && len(key) <= 15
	lower := strings.ToLower(key)
	type probe struct {
		account string
		cmd     *redis.StringCmd
		direct  bool // the key itself as a user key
	}
	var probes []probe
	for _, a := range accounts {
		if !email {
			probes = append(probes, probe{account: a, cmd: p.HGet(ctx, s.keys.user(a, key), "vmax"), direct: true})
		}
		if email {
			for _, c := range s.indexProbes(ctx, p, a, lower, s.keys.emailIndex) {
				probes = append(probes, probe{account: a, cmd: c})
			}
		}
		if digits {
			for _, c := range s.indexProbes(ctx, p, a, key, s.keys.extensionIndex) {
				probes = append(probes, probe{account: a, cmd: c})
			}
		}
	}
	return func() []UserRef {
		var refs []UserRef
		for _, pr := range probes {
			v, err := pr.cmd.Result()
			if err != nil || v == "" {
				continue
			}
			if pr.direct {
				refs = append(refs, UserRef{pr.account, key})
			} else {
				refs = append(refs, UserRef{pr.account, v})
			}
		}
		return refs
	}
}

// Records reads several records in one round trip (missing ones are left
// out).
func (s *Store) Records(ctx context.Context, refs []UserRef) ([]*Record, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(refs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range refs {
			cmds[i] = p.HGetAll(ctx, s.keys.user(r.Account, r.Key))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("zsync.Store.Records", err)
	}
	var out []*Record
	for i, c := range cmds {
		if m := c.Val(); len(m) > 0 {
			out = append(out, recordOf(refs[i].Account, refs[i].Key, m))
		}
	}
	return out, nil
}

// UserFields reads the asked fields of several users in one round trip:
// vals[i] holds refs[i]'s values in the order asked, or is nil when the
// user has no live record (never existed, expired or tombstoned). The
// read model re-reads the users the presence channel names with it.
func (s *Store) UserFields(ctx context.Context, refs []UserRef, fields []string) ([][]string, error) {
	ask := append([]string{"vmax", FieldUserStatus}, fields...)
	cmds := make([]*redis.SliceCmd, len(refs))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range refs {
			cmds[i] = p.HMGet(ctx, s.keys.user(r.Account, r.Key), ask...)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("zsync.Store.UserFields", err)
	}
	out := make([][]string, len(refs))
	for i, c := range cmds {
		v := c.Val()
		vmax, _ := v[0].(string)
		status, _ := v[1].(string)
		if vmax == "" || status == StatusDeleted {
			continue
		}
		vals := make([]string, len(fields))
		for j := range vals {
			vals[j], _ = v[j+2].(string)
		}
		out[i] = vals
	}
	return out, nil
}
