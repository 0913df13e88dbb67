package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"
	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/parallel"
	"github.com/zoomsync/zoomsync/mapping"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// profileAttributes are read from every entry beside the rules'
// attributes: what lookups and the report show. Both OpenLDAP and Active
// Directory names are asked; servers ignore the ones they lack.
var profileAttributes = []string{"uid", "sAMAccountName", "employeeNumber", "employeeID", "displayName", "cn",
	"mail", "departmentNumber", "department", "title", "telephoneNumber"}

// Report categories of GET /v1/mapping/report.
var reportCategories = []string{"unmatched_users", "unmatched_entries", "conflicts", "disabled_active"}

// mapper keeps the directory snapshot fresh and the links computed: it
// reads the directory every refresh interval and at each full resync, and
// recomputes links after user events (debounced) and complete pulls. It
// runs under the "mapping" lease: one replica at a time.
type mapper struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	dir      *directory.Directory
	rules    []mapping.Rule
	accounts []string
	lease    *coord.Lease
	clock    clockwork.Clock
	log      *slog.Logger
	m        *metrics
	maxDrop  float64
	every    time.Duration
	debounce time.Duration

	dirty   chan struct{} // user data changed: recompute links
	refresh chan struct{} // read the directory again

	mu   sync.Mutex
	snap *directory.Snapshot
	meta zsync.SnapshotMeta
	last *mapping.Result // for tests and the demo
}

func (mp *mapper) attributes() []string {
	attrs := slices.Clone(profileAttributes)
	for _, r := range mp.rules {
		if !slices.ContainsFunc(attrs, func(a string) bool { return strings.EqualFold(a, r.Attribute) }) {
			attrs = append(attrs, r.Attribute)
		}
	}
	return attrs
}

// markDirty asks for a recomputation of the links (never blocks).
func (mp *mapper) markDirty() {
	select {
	case mp.dirty <- struct{}{}:
	default:
	}
}

// refreshNow asks for a directory read (never blocks).
func (mp *mapper) refreshNow() {
	select {
	case mp.refresh <- struct{}{}:
	default:
	}
}

func (mp *mapper) run(ctx context.Context) {
	// A failed directory read is tried again soon rather than at the next
	// refresh: after a tenth of the interval (at most 30 s), doubling up to
	// the interval. A slapd restart or a domain controller failover costs
	// seconds of staleness, not a refresh period.
	var retry <-chan time.Time
	var wait time.Duration
	read := func() {
		if mp.cycle(ctx, true) {
			retry, wait = nil, 0
			return
		}
		switch {
		case wait == 0:
			wait = min(mp.every/10, 30*time.Second)
		default:
			wait = min(2*wait, mp.every)
		}
		retry = mp.clock.After(wait)
	}
	read()
	tick := mp.clock.NewTicker(mp.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
			read()
		case <-retry:
			mp.log.Info("retrying the directory read after a failure", slog.Duration("waited", wait))
			read()
		case <-mp.refresh:
			read()
		case <-mp.dirty:
			// Let a burst of user events land first.
			select {
			case <-ctx.Done():
				return
			case <-mp.clock.After(mp.debounce):
			}
			select {
			case <-mp.dirty:
			default:
			}
			mp.cycle(ctx, false)
		}
	}
}

// cycle runs one directory read (when read is set) and link computation
// under the lease; another replica holding it does the work instead. It
// reports false when the work failed (so a read is retried soon).
func (mp *mapper) cycle(ctx context.Context, read bool) bool {
	var readErr error
	ran, err := mp.lease.Hold(ctx, func(ctx context.Context, _ coord.Fence) error {
		if !read {
			_, _, err := mp.remap(ctx)
			return err
		}
		var err error
		_, _, readErr, err = mp.readAndLink(ctx)
		return err
	})
	switch {
	case err != nil && ctx.Err() == nil:
		mp.log.Error("mapping run failed; links unchanged", slog.String("error", err.Error()))
		mp.m.mappingRuns.WithLabelValues("failed").Inc()
		return false
	case !ran && !read:
		mp.markDirty() // the holder may have started before our change; look again later
	}
	return readErr == nil
}

// readAndLink reads the directory and links every user against what it
// read. A failed read is logged and counted (readErr), and users are
// linked against the previous snapshot; so are they when the new one is
// refused (it would drop too many people), in which case no link computed
// from it was written.
func (mp *mapper) readAndLink(ctx context.Context) (res *mapping.Result, written int, readErr, err error) {
	us, fresh, readErr, err := mp.readAndLoad(ctx)
	if fresh != nil {
		// However the run ends, let the snapshot's store finish before the
		// lease (and its context) does: a store cut mid-way would leave
		// chunks no snapshot names.
		defer func() { <-fresh.done }()
	}
	if err != nil {
		return nil, 0, readErr, err
	}
	if fresh != nil {
		res, written, err = mp.link(ctx, us, fresh)
		if !errors.Is(err, errSnapshotNotStored) {
			return res, written, nil, err
		}
		readErr = err
	}
	res, written, err = mp.link(ctx, us, nil)
	return res, written, readErr, err
}

// errSnapshotNotStored: the snapshot links were computed from was not
// stored (refused or failed), so none of them was written.
var errSnapshotNotStored = errors.New("directory snapshot not stored")

// freshSnapshot is a directory read being stored while links are computed
// from it: no link computed from it is written before wait says it was
// stored.
type freshSnapshot struct {
	snap *directory.Snapshot
	done chan struct{}
	meta zsync.SnapshotMeta
	err  error
}

func (f *freshSnapshot) wait(ctx context.Context) (zsync.SnapshotMeta, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return zsync.SnapshotMeta{}, ctx.Err()
	}
	if f.err != nil {
		return zsync.SnapshotMeta{}, fmt.Errorf("%w: %w", errSnapshotNotStored, f.err)
	}
	return f.meta, nil
}

// readDirectory reads the directory and starts storing the snapshot,
// which is refused if the read looks wrong (the previous snapshot then
// stays in force). A failed read returns an error and no snapshot.
func (mp *mapper) readDirectory(ctx context.Context) (*freshSnapshot, error) {
	start := mp.clock.Now()
	splits := mp.splits(ctx)
	snap, err := mp.dir.Read(ctx, mp.attributes(), splits)
	if err != nil {
		mp.m.directoryReads.WithLabelValues("failed").Inc()
		mp.log.Error("directory read failed: keeping the previous snapshot, no link changes", slog.String("error", err.Error()))
		return nil, err
	}
	read := mp.clock.Since(start)
	f := &freshSnapshot{snap: snap, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		meta, err := zsync.SaveSnapshot(ctx, mp.rdb, snap, start, mp.maxDrop, mp.dir.SplitPoints(snap))
		if err != nil {
			mp.m.directoryReads.WithLabelValues("refused").Inc()
			mp.log.Error("directory snapshot refused: keeping the previous one, no link changes", slog.String("error", err.Error()))
			f.err = err
			return
		}
		mp.m.directoryReads.WithLabelValues("ok").Inc()
		mp.m.directoryEntries.Set(float64(len(snap.Entries)))
		mp.mu.Lock()
		mp.snap, mp.meta = snap, meta
		mp.mu.Unlock()
		mp.log.Info("directory snapshot stored", slog.Int("entries", len(snap.Entries)), slog.String("flavor", string(snap.Flavor)),
			slog.Int("split_at", len(splits)), slog.Duration("read", read), slog.Duration("duration", mp.clock.Since(start)))
		f.meta = meta
	}()
	return f, nil
}

// splits are where the previous read says this one can be cut.
func (mp *mapper) splits(ctx context.Context) []string {
	mp.mu.Lock()
	meta := mp.meta
	mp.mu.Unlock()
	if meta.Generation == 0 {
		meta, _ = redisMeta(ctx, mp.rdb) // none yet: one search
	}
	return meta.Splits
}

// snapshot returns the current snapshot: this process's, or the one
// another replica stored.
func (mp *mapper) snapshot(ctx context.Context) (*directory.Snapshot, zsync.SnapshotMeta, error) {
	stored, err := redisMeta(ctx, mp.rdb)
	if err != nil {
		return nil, stored, err
	}
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.snap != nil && mp.meta.Generation == stored.Generation {
		return mp.snap, mp.meta, nil
	}
	snap, meta, err := zsync.LoadSnapshot(ctx, mp.rdb)
	if err != nil {
		return nil, meta, err
	}
	mp.snap, mp.meta = snap, meta
	return snap, meta, nil
}

func redisMeta(ctx context.Context, rdb redis.UniversalClient) (zsync.SnapshotMeta, error) {
	_, meta, err := zsync.LoadSnapshotMeta(ctx, rdb)
	return meta, err
}

// linkFields are the record fields a mapping run owns, in linkState's
// order.
var linkFields = []string{zsync.FieldDirID, zsync.FieldDirDN, zsync.FieldDirUID, zsync.FieldDirEmployeeNumber,
	zsync.FieldDirDisplayName, zsync.FieldDirDepartment, zsync.FieldDirTitle, zsync.FieldDirPhone,
	zsync.FieldDirDisabled, zsync.FieldDirRule, zsync.FieldMapping}

// linkState is the value of linkFields for one user.
type linkState [11]string

// Positions in linkState.
const (
	linkEntryValues = 9  // [0, 9) come from the entry alone
	linkRule        = 9  // the rule that matched
	linkMapping     = 10 // matched, unmatched or conflict
)

// sum is what dir_sum stores: a run compares it instead of reading every
// link field of every user.
func (l *linkState) sum() string {
	h := linkHashOffset
	for _, v := range l {
		h = h.add(v)
	}
	return h.String()
}

// linkHash is the FNV-1a (64 bits) hash of a linkState's values, each
// followed by a zero byte. It is built value by value so that the part
// that depends on the entry alone is hashed once per entry (entryFacts).
type linkHash uint64

const linkHashOffset linkHash = 14695981039346656037

func (h linkHash) add(v string) linkHash {
	const prime = 1099511628211
	for i := 0; i < len(v); i++ {
		h = (h ^ linkHash(v[i])) * prime
	}
	return h * prime // the zero byte between values
}

func (h linkHash) String() string { return strconv.FormatUint(uint64(h), 36) }

// is reports whether s is h's String, without making one.
func (h linkHash) is(s string) bool {
	var b [16]byte
	return string(strconv.AppendUint(b[:0], uint64(h), 36)) == s
}

// entryFacts is what a run needs of an entry for every user linked to it:
// worked out once per entry, in entry order, rather than once per user,
// which visits the entries at random (and cache misses cost more than the
// work).
type entryFacts struct {
	sum  linkHash  // linkState's hash after the entry's own values
	keys [3]string // lookup index keys (indexKey) of uid, employee number, mail
}

// lookupIndices are the lookup indices a run publishes, by name, and the
// entryFacts.keys they are made of.
var lookupIndices = [3]string{"uid", "employee_number", "mail"}

// newEntryFacts works out the facts of every entry, on every core.
func newEntryFacts(snap *directory.Snapshot, profiles *profiler) []entryFacts {
	facts := make([]entryFacts, len(snap.Entries))
	parallel.Chunks(len(facts), 1024, func(first, last int) {
		for i := first; i < last; i++ {
			e, f := &snap.Entries[i], &facts[i]
			p := profiles.of(e)
			ls := entryState(e, p)
			h := linkHashOffset
			for _, v := range ls[:linkEntryValues] {
				h = h.add(v)
			}
			f.sum = h
			f.keys = [3]string{indexKey(p.UID), indexKey(p.EmployeeNumber), indexKey(p.Mail)}
		}
	})
	return facts
}

// entryState is a matched user's linkState but for the rule.
func entryState(e *directory.Entry, p profile) linkState {
	return linkState{e.ID, e.DN, p.UID, p.EmployeeNumber, p.DisplayName, p.Department, p.Title, p.Phone,
		boolString(e.Disabled), "", "matched"}
}

// indexKey is the form under which a lookup index holds a value.
func indexKey(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// addIndex records that ref ("account/key") is linked to an entry whose
// attribute has the index key k ("" is not indexed); several users under
// one key are kept, comma separated and sorted (the lookup answers 409),
// so the index does not depend on the order users were loaded in and an
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

// remap computes every link from the current snapshot and the users in
// Redis, writes the links that changed, and publishes the lookup indices
// and the report.
func (mp *mapper) remap(ctx context.Context) (*mapping.Result, int, error) {
	us, err := mp.loadUsers(ctx)
	if err != nil {
		return nil, 0, err
	}
	return mp.link(ctx, us, nil)
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
func (mp *mapper) loadUsers(ctx context.Context) (*zoomUsers, error) {
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

// readAndLoad reads the directory while the users load from Redis: the
// two are independent, and the read mostly waits on the server.
func (mp *mapper) readAndLoad(ctx context.Context) (us *zoomUsers, fresh *freshSnapshot, readErr, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		us, err = mp.loadUsers(ctx)
	}()
	fresh, readErr = mp.readDirectory(ctx)
	<-done
	return us, fresh, readErr, err
}

// link computes and stores the links of us against fresh, a snapshot
// being stored (nothing is written unless it is), or when nil the current
// stored snapshot.
func (mp *mapper) link(ctx context.Context, us *zoomUsers, fresh *freshSnapshot) (*mapping.Result, int, error) {
	var snap *directory.Snapshot
	var meta zsync.SnapshotMeta
	stored := func(context.Context) (zsync.SnapshotMeta, error) { return meta, nil }
	if fresh != nil {
		snap, stored = fresh.snap, fresh.wait
	} else {
		var err error
		snap, meta, err = mp.snapshot(ctx)
		if errors.Is(err, zsync.ErrNoSnapshot) {
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
	var facts []entryFacts
	var computing conc.WaitGroup
	computing.Go(func() { facts = newEntryFacts(snap, profiles) })
	res := mapping.Compute(mp.rules, users, snap)
	computing.Wait()
	computed := mp.clock.Since(computeStart)

	state := func(i int) linkState {
		var ls linkState
		switch o := res.Of[i]; o.State {
		case mapping.Matched:
			e := &snap.Entries[o.Entry]
			ls = entryState(e, profiles.of(e))
			ls[linkRule] = o.Rule
		case mapping.Unmatched:
			ls[linkMapping] = "unmatched"
		case mapping.Conflicted:
			ls[linkMapping] = "conflict"
		}
		return ls
	}
	unmatchedSum, conflictSum := (&linkState{linkMapping: "unmatched"}).sum(), (&linkState{linkMapping: "conflict"}).sum()
	// Which links changed, compared by digest on every core (a matched
	// user's digest continues its entry's); then the changed ones are
	// written in order, in chunks.
	// The lookup indices' digests are summed on the way: an index is only
	// built when its digest changed.
	newSums := make([]string, len(users)) // "": unchanged (or skipped)
	refs := make([]string, len(users))    // "account/key" of matched users
	var digests [len(lookupIndices)]zsync.IndexDigest
	var digestsMu sync.Mutex
	parallel.Chunks(len(users), 1024, func(first, last int) {
		var local [len(lookupIndices)]zsync.IndexDigest
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
				for k, v := range facts[o.Entry].keys {
					if v != "" {
						local[k].Add(v, refs[i])
					}
				}
				if h := facts[o.Entry].sum.add(o.Rule).add("matched"); !h.is(sums[i]) {
					newSums[i] = h.String()
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

	indices := map[string]zsync.LookupIndex{}
	for k, name := range lookupIndices {
		indices[name] = zsync.LookupIndex{Digest: digests[k], Build: func() map[string]string {
			ix := make(map[string]string, digests[k].Len())
			for i, ref := range refs {
				if ref != "" {
					addIndex(ix, facts[res.Of[i].Entry].keys[k], ref)
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
	view := zsync.MappingView{Indices: indices, Report: reportItems(snap, res), Computed: start, Snapshot: meta, Complete: us.complete,
		Counts: map[string]int{"matched": len(res.Links), "users": len(users), "entries": len(snap.Entries)}}
	if err := zsync.SaveMapping(ctx, mp.rdb, view); err != nil {
		return nil, 0, err
	}
	mp.m.mappedResult(res)
	mp.mu.Lock()
	mp.last = res
	mp.mu.Unlock()
	mp.log.Info("links computed", slog.Int("users", len(users)), slog.Int("entries", len(snap.Entries)),
		slog.Int("matched", len(res.Links)), slog.Int("unmatched_users", len(res.UnmatchedUsers)),
		slog.Int("unmatched_entries", len(res.UnmatchedEntries)), slog.Int("conflicts", len(res.Conflicts)),
		slog.Int("disabled_active", len(res.DisabledActive)), slog.Int("links_written", written),
		slog.Duration("compute", computed), slog.Duration("compare_and_write", compared), slog.Duration("publish", mp.clock.Since(saveStart)),
		slog.Duration("duration", mp.clock.Since(start)))
	return res, written, nil
}

// mapSummary is what `zoomsync map` and `zoomsync resync` print.
type mapSummary struct {
	Entries  int
	Result   *mapping.Result
	Written  int
	ReadErr  error
	Duration time.Duration
}

func (s mapSummary) String() string {
	if s.Result == nil {
		return fmt.Sprintf("directory: no complete read yet (%v); no links computed", s.ReadErr)
	}
	r := s.Result
	line := fmt.Sprintf("directory: %d entries; links: matched %d, unmatched users %d, unmatched entries %d, conflicts %d, disabled but active %d; %d links written; duration %s",
		s.Entries, len(r.Links), len(r.UnmatchedUsers), len(r.UnmatchedEntries), len(r.Conflicts), len(r.DisabledActive), s.Written, s.Duration.Round(time.Millisecond))
	if s.ReadErr != nil {
		line += fmt.Sprintf(" (the directory read failed, links kept from the previous snapshot: %v)", s.ReadErr)
	}
	return line
}

// once reads the directory and recomputes every link now, under the
// lease (waiting for it while another replica holds it).
func (mp *mapper) once(ctx context.Context) (mapSummary, error) {
	var sum mapSummary
	start := mp.clock.Now()
	for {
		ran, err := mp.lease.Hold(ctx, func(ctx context.Context, _ coord.Fence) error {
			var err error
			sum.Result, sum.Written, sum.ReadErr, err = mp.readAndLink(ctx)
			return err
		})
		if err != nil {
			return sum, err
		}
		if ran {
			break
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-mp.clock.After(time.Second):
		}
	}
	mp.mu.Lock()
	if mp.snap != nil {
		sum.Entries = len(mp.snap.Entries)
	}
	mp.mu.Unlock()
	sum.Duration = mp.clock.Since(start)
	return sum, sum.ReadErr
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return ""
}

// profile is what lookups show of an entry, whatever the server's flavor.
type profile struct {
	UID            string `json:"uid"`
	EmployeeNumber string `json:"employee_number,omitempty"`
	DisplayName    string `json:"display_name,omitempty"`
	Mail           string `json:"mail,omitempty"`
	Department     string `json:"department,omitempty"`
	Title          string `json:"title,omitempty"`
	Phone          string `json:"phone,omitempty"`
}

// profiler reads profiles from a snapshot's entries, with the positions
// of the attributes looked up once.
type profiler struct {
	// pos[i]: the positions of profile field i's attributes, in order of
	// preference.
	pos [7][]int
}

func newProfiler(s *directory.Snapshot) *profiler {
	p := &profiler{}
	for i, attrs := range [7][]string{{"uid", "sAMAccountName"}, {"employeeNumber", "employeeID"}, {"displayName", "cn"},
		{"mail"}, {"departmentNumber", "department"}, {"title"}, {"telephoneNumber"}} {
		for _, a := range attrs {
			if j := s.Position(a); j >= 0 {
				p.pos[i] = append(p.pos[i], j)
			}
		}
	}
	return p
}

func (p *profiler) of(e *directory.Entry) profile {
	var f [7]string
	for i := range p.pos {
		f[i] = p.field(e, i)
	}
	return profile{UID: f[0], EmployeeNumber: f[1], DisplayName: f[2], Mail: f[3], Department: f[4], Title: f[5], Phone: f[6]}
}

// field returns one profile field of an entry.
func (p *profiler) field(e *directory.Entry, i int) string {
	for _, j := range p.pos[i] {
		if v := e.Values(j); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return ""
}

// reportItems renders the result's lists as the report's JSON items.
func reportItems(snap *directory.Snapshot, res *mapping.Result) map[string][]json.RawMessage {
	out := map[string][]json.RawMessage{}
	profiles := newProfiler(snap)
	add := func(cat string, v any) {
		b, _ := json.Marshal(v)
		out[cat] = append(out[cat], b)
	}
	for _, c := range reportCategories {
		out[c] = nil
	}
	for _, u := range res.UnmatchedUsers {
		add("unmatched_users", u)
	}
	for _, i := range res.UnmatchedEntries {
		e := &snap.Entries[i]
		add("unmatched_entries", struct {
			DN string `json:"dn"`
			profile
		}{e.DN, profiles.of(e)})
	}
	for _, c := range res.Conflicts {
		add("conflicts", c)
	}
	for _, l := range res.DisabledActive {
		e := &snap.Entries[l.Entry]
		add("disabled_active", struct {
			User mapping.Ref `json:"user"`
			DN   string      `json:"dn"`
			profile
		}{l.User, e.DN, profiles.of(e)})
	}
	return out
}
