package mapper

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/parallel"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// linkFields are the record fields a mapping run owns (the values of a
// linkState), and recorded the positions in mapstore.Profile of the
// profile fields among them, in order.
var (
	linkFields = mapstore.LinkFields()
	recorded   = func() (r []int) {
		for i, f := range mapstore.Profile {
			if f.Record != "" {
				r = append(r, i)
			}
		}
		return r
	}()
	indexed = mapstore.Indexed()
)

// Positions in a linkState: the entry's own values come first, then the
// rule and the outcome (matched, unmatched or conflict).
var (
	linkRule    = len(linkFields) - 2
	linkMapping = len(linkFields) - 1
)

// linkState is the value of linkFields for one user.
type linkState []string

// newLinkState is an unlinked user's state with the given outcome.
func newLinkState(outcome string) linkState {
	ls := make(linkState, len(linkFields))
	ls[linkMapping] = outcome
	return ls
}

// entryState is a matched user's linkState but for the rule.
func entryState(e *directory.Entry, p *profiler) linkState {
	ls := make(linkState, 0, len(linkFields))
	ls = append(ls, e.ID, e.DN)
	for _, i := range recorded {
		ls = append(ls, p.field(e, i))
	}
	return append(ls, boolString(e.Disabled), "", "matched")
}

// sum is what dir_sum stores: a run compares it instead of reading every
// link field of every user.
func (l linkState) sum() string {
	h := mapstore.NewDigest
	for _, v := range l {
		h = h.Value(v)
	}
	return h.Base36()
}

// entryFacts is what a run needs of the entries for every user linked to
// one: worked out once per entry, in entry order, rather than once per
// user, which visits the entries at random (and cache misses cost more
// than the work).
type entryFacts struct {
	// sums[e]: the linkState digest after entry e's own values.
	sums []mapstore.Digest
	// keys[e*len(indexed)+k]: entry e's value of lookup key k, in index
	// form ("": not indexed).
	keys []string
}

func (f *entryFacts) key(entry, k int) string { return f.keys[entry*len(indexed)+k] }

// newEntryFacts works out the facts of every entry, on every core.
func newEntryFacts(snap *directory.Snapshot, profiles *profiler) *entryFacts {
	f := &entryFacts{sums: make([]mapstore.Digest, len(snap.Entries)), keys: make([]string, len(snap.Entries)*len(indexed))}
	parallel.Chunks(len(snap.Entries), 1024, func(first, last int) {
		for i := first; i < last; i++ {
			e := &snap.Entries[i]
			h := mapstore.NewDigest.Value(e.ID).Value(e.DN)
			for _, j := range recorded {
				h = h.Value(profiles.field(e, j))
			}
			f.sums[i] = h.Value(boolString(e.Disabled))
			for k, j := range indexed {
				f.keys[i*len(indexed)+k] = mapstore.IndexValue(profiles.field(e, j))
			}
		}
	})
	return f
}

// covered reports whether the lookup index k can leave out the value v
// of the entry u is linked to: a lookup key records do not carry (the
// directory's mail) whose value is u's own Zoom email is answered with u
// by the Zoom email index, which every lookup of a key with an '@'
// reads (zsync.Store.ProbeKey; the read model leaves such values out the
// same way). With the usual email=mail rule that is every linked user:
// the index would repeat the Zoom email index (~117 B a user).
func covered(k int, v string, u *mapping.User) bool {
	return mapstore.Profile[indexed[k]].Record == "" && strings.Contains(v, "@") && v == strings.ToLower(u.Email) && ascii(v)
}

// ascii reports whether s is ASCII only: the apply script lower-cases an
// email byte by byte, so only then does its index hold what Go's
// strings.ToLower makes of it.
func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// addIndex records that ref ("account/key") is linked to an entry whose
// lookup key has the value k ("" is not indexed); several users under one
// value are kept, comma separated and sorted (the lookup answers 409), so
// the index does not depend on the order users were loaded in and an
// unchanged one is not written again.
func addIndex(ix map[string]string, k, ref string) {
	if k == "" {
		return
	}
	if old, ok := ix[k]; ok {
		refs := append(strings.Split(old, ","), ref)
		slices.Sort(refs)
		ref = strings.Join(refs, ",")
	}
	ix[k] = ref
}

// zoomUsers are the users a run links, with their stored dir_sum.
type zoomUsers struct {
	users []mapping.User
	sums  []string
	at    time.Time
	// complete: every account had a complete full pull before the users
	// were read.
	complete bool
}

// loadUsers reads what the rules need of every live user (the
// partitions' mapping inputs, kept by the apply script), sorted by
// account and key: the order of the result's lists, which Compute's sorts
// then find in place.
func (mp *Mapper) loadUsers(ctx context.Context) (*zoomUsers, error) {
	us := &zoomUsers{at: mp.clock.Now(), complete: true}
	accounts := slices.Sorted(slices.Values(mp.accounts)) // in the order refs compare
	for _, account := range accounts {
		last, err := zsync.LastCompletePull(ctx, mp.rdb, account)
		if err != nil {
			return nil, err
		}
		us.complete = us.complete && !last.IsZero()
	}
	var inputs [][]zsync.MappingInput
	n := 0
	for _, account := range accounts {
		ins, err := mp.store.MappingInputs(ctx, account)
		if err != nil {
			return nil, err
		}
		inputs, n = append(inputs, ins), n+len(ins)
	}
	us.users, us.sums = make([]mapping.User, 0, n), make([]string, 0, n)
	for i, account := range accounts {
		// Sorted through a permutation: an input is 128 bytes to swap.
		ins := inputs[i]
		order := make([]int32, len(ins))
		for j := range order {
			order[j] = int32(j)
		}
		slices.SortFunc(order, func(a, b int32) int { return strings.Compare(ins[a].Key, ins[b].Key) })
		for _, j := range order {
			in := &ins[j]
			us.users = append(us.users, mapping.User{Account: account, Key: in.Key, Status: in.Status,
				Email: in.Email, EmployeeUniqueID: in.EmployeeUniqueID, Extension: in.Extension,
				Link: mapping.Link{EntryID: in.DirID, Rule: in.DirRule}})
			us.sums = append(us.sums, in.DirSum)
		}
	}
	return us, nil
}

// remap computes every link from the current snapshot and the users in
// Redis, writes the links that changed, and publishes the lookup indices
// and the report.
func (mp *Mapper) remap(ctx context.Context) (*mapping.Result, int, error) {
	us, err := mp.loadUsers(ctx)
	if err != nil {
		return nil, 0, err
	}
	return mp.link(ctx, us, nil)
}

// link computes and stores the links of us against fresh, a snapshot
// being stored (nothing is written unless it is), or when nil the current
// stored snapshot.
func (mp *Mapper) link(ctx context.Context, us *zoomUsers, fresh *freshSnapshot) (*mapping.Result, int, error) {
	var snap *directory.Snapshot
	var meta mapstore.SnapshotMeta
	stored := func(context.Context) (mapstore.SnapshotMeta, error) { return meta, nil }
	if fresh != nil {
		snap, stored = fresh.snap, fresh.wait
	} else {
		var err error
		snap, meta, err = mp.snapshot(ctx)
		if errors.Is(err, mapstore.ErrNoSnapshot) {
			return nil, 0, nil // no complete directory read yet: nothing to link against
		}
		if err != nil {
			return nil, 0, err
		}
	}
	start := us.at
	users, sums := us.users, us.sums
	computeStart := mp.clock.Now()
	profiles := newProfiler(snap)
	var facts *entryFacts
	var computing conc.WaitGroup
	computing.Go(func() { facts = newEntryFacts(snap, profiles) })
	res := mapping.Compute(mp.rules, users, snap)
	computing.Wait()
	computed := mp.clock.Since(computeStart)

	state := func(i int) linkState {
		switch o := res.Of[i]; o.State {
		case mapping.Matched:
			ls := entryState(&snap.Entries[o.Entry], profiles)
			ls[linkRule] = o.Rule
			return ls
		case mapping.Unmatched:
			return newLinkState("unmatched")
		case mapping.Conflicted:
			return newLinkState("conflict")
		}
		return newLinkState("")
	}
	unmatchedSum, conflictSum := newLinkState("unmatched").sum(), newLinkState("conflict").sum()
	// Which links changed, compared by digest on every core (a matched
	// user's digest continues its entry's); then the changed ones are
	// written in order, in chunks.
	// The lookup indices' digests are summed on the way: an index is only
	// built when its digest changed.
	newSums := make([]string, len(users)) // "": unchanged (or skipped)
	refs := make([]string, len(users))    // "account/key" of matched users
	digests := make([]mapstore.IndexDigest, len(indexed))
	var digestsMu sync.Mutex
	parallel.Chunks(len(users), 1024, func(first, last int) {
		local := make([]mapstore.IndexDigest, len(indexed))
		defer func() {
			digestsMu.Lock()
			defer digestsMu.Unlock()
			for k := range digests {
				digests[k].Merge(local[k])
			}
		}()
		for i := first; i < last; i++ {
			switch o := res.Of[i]; o.State {
			case mapping.Matched:
				refs[i] = users[i].Account + "/" + users[i].Key
				for k := range indexed {
					if v := facts.key(o.Entry, k); v != "" && !covered(k, v, &users[i]) {
						local[k].Add(v, refs[i])
					}
				}
				if h := facts.sums[o.Entry].Value(o.Rule).Value("matched"); !h.IsBase36(sums[i]) {
					newSums[i] = h.Base36()
				}
			case mapping.Unmatched:
				if sums[i] != unmatchedSum {
					newSums[i] = unmatchedSum
				}
			case mapping.Conflicted:
				if sums[i] != conflictSum {
					newSums[i] = conflictSum
				}
			}
			// Skipped: deleted users take no part.
		}
	})

	indices := map[string]mapstore.LookupIndex{}
	for k, j := range indexed {
		indices[mapstore.Profile[j].Name] = mapstore.LookupIndex{Digest: digests[k], Build: func() map[string]string {
			ix := make(map[string]string, digests[k].Len())
			for i, ref := range refs {
				if v := facts.key(res.Of[i].Entry, k); ref != "" && !covered(k, v, &users[i]) {
					addIndex(ix, v, ref)
				}
			}
			return ix
		}}
	}
	version := zsync.PullVersion(start)
	var writes []zsync.Write // a chunk: links are written as they are computed
	written := 0
	flush := func() error {
		if len(writes) == 0 {
			return nil
		}
		if _, err := stored(ctx); err != nil {
			return err
		}
		if _, err := mp.store.ApplyBatch(ctx, writes); err != nil {
			return err
		}
		written += len(writes)
		writes = writes[:0]
		return nil
	}
	for i, sum := range newSums {
		if sum == "" {
			continue
		}
		u, ls := &users[i], state(i)
		w := zsync.Write{Account: u.Account, UserKey: u.Key, Fields: make([]zsync.FieldWrite, 0, len(linkFields)+1)}
		for j, f := range linkFields {
			w.Fields = append(w.Fields, zsync.FieldWrite{Name: f, Version: version, Value: ls[j]})
		}
		w.Fields = append(w.Fields, zsync.FieldWrite{Name: zsync.FieldDirSum, Version: version, Value: sum})
		writes = append(writes, w)
		if len(writes) == 500 {
			if err := flush(); err != nil {
				return nil, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	compared := mp.clock.Since(computeStart) - computed
	meta, err := stored(ctx)
	if err != nil {
		return nil, 0, err
	}
	saveStart := mp.clock.Now()
	view := mapstore.View{Indices: indices, Report: reportItems(snap, res), Computed: start, Snapshot: meta, Complete: us.complete,
		Counts: map[string]int{"matched": len(res.Links), "users": len(users), "entries": len(snap.Entries)}}
	if err := mapstore.Publish(ctx, mp.rdb, view); err != nil {
		return nil, 0, err
	}
	sizes := map[string]int{"matched": len(res.Links)}
	for cat, items := range view.Report {
		sizes[cat] = len(items)
	}
	for _, o := range res.Of {
		if o.State == mapping.Conflicted {
			sizes["conflicted_users"]++ // held back by a conflict
		}
	}
	mp.obs.MappingRun("ok", sizes)
	mp.log.Info("links computed", slog.Int("users", len(users)), slog.Int("entries", len(snap.Entries)),
		slog.Int("matched", len(res.Links)), slog.Int("unmatched_users", len(res.UnmatchedUsers)),
		slog.Int("unmatched_entries", len(res.UnmatchedEntries)), slog.Int("conflicts", len(res.Conflicts)),
		slog.Int("disabled_active", len(res.DisabledActive)), slog.Int("links_written", written),
		slog.Duration("compute", computed), slog.Duration("compare_and_write", compared), slog.Duration("publish", mp.clock.Since(saveStart)),
		slog.Duration("duration", mp.clock.Since(start)))
	return res, written, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return ""
}
