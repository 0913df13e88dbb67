package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/directory"
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
	lease    *zsync.Lease
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
	mp.cycle(ctx, true)
	tick := mp.clock.NewTicker(mp.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.Chan():
			mp.cycle(ctx, true)
		case <-mp.refresh:
			mp.cycle(ctx, true)
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
// under the lease; another replica holding it does the work instead.
func (mp *mapper) cycle(ctx context.Context, read bool) {
	ran, err := mp.lease.Hold(ctx, func(ctx context.Context, _ zsync.Fence) error {
		if read {
			mp.readDirectory(ctx)
		}
		_, err := mp.remap(ctx)
		return err
	})
	switch {
	case err != nil && ctx.Err() == nil:
		mp.log.Error("mapping run failed; links unchanged", slog.String("error", err.Error()))
		mp.m.mappingRuns.WithLabelValues("failed").Inc()
	case !ran && !read:
		mp.markDirty() // the holder may have started before our change; look again later
	}
}

// readDirectory reads the directory and stores the snapshot, unless the
// read failed or looks wrong: then the previous snapshot stays in force.
func (mp *mapper) readDirectory(ctx context.Context) {
	start := mp.clock.Now()
	snap, err := mp.dir.Read(ctx, mp.attributes())
	if err != nil {
		mp.m.directoryReads.WithLabelValues("failed").Inc()
		mp.log.Error("directory read failed: keeping the previous snapshot, no link changes", slog.String("error", err.Error()))
		return
	}
	meta, err := zsync.SaveSnapshot(ctx, mp.rdb, snap, start, mp.maxDrop)
	if err != nil {
		mp.m.directoryReads.WithLabelValues("refused").Inc()
		mp.log.Error("directory snapshot refused: keeping the previous one, no link changes", slog.String("error", err.Error()))
		return
	}
	mp.m.directoryReads.WithLabelValues("ok").Inc()
	mp.m.directoryEntries.Set(float64(len(snap.Entries)))
	mp.mu.Lock()
	mp.snap, mp.meta = snap, meta
	mp.mu.Unlock()
	mp.log.Info("directory snapshot stored", slog.Int("entries", len(snap.Entries)), slog.String("flavor", string(snap.Flavor)),
		slog.Duration("duration", mp.clock.Since(start)))
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

// linkFields are the record fields a mapping run owns.
var linkFields = []string{zsync.FieldDirID, zsync.FieldDirDN, zsync.FieldDirUID, zsync.FieldDirEmployeeNumber,
	zsync.FieldDirDisplayName, zsync.FieldDirDepartment, zsync.FieldDirTitle, zsync.FieldDirPhone,
	zsync.FieldDirDisabled, zsync.FieldDirRule, zsync.FieldMapping}

// remap computes every link from the current snapshot and the users in
// Redis, writes the links that changed, and publishes the lookup indices
// and the report.
func (mp *mapper) remap(ctx context.Context) (*mapping.Result, error) {
	snap, meta, err := mp.snapshot(ctx)
	if errors.Is(err, zsync.ErrNoSnapshot) {
		return nil, nil // no complete directory read yet: nothing to link against
	}
	if err != nil {
		return nil, err
	}
	start := mp.clock.Now()
	var users []mapping.User
	current := map[zsync.UserRef]map[string]string{}
	ask := append([]string{zsync.FieldEmail, zsync.FieldEmployeeUniqueID, zsync.FieldExtension}, linkFields...)
	for _, account := range mp.accounts {
		err := mp.store.ScanUsers(ctx, account, ask, func(key string, v map[string]string) {
			users = append(users, mapping.User{Account: account, Key: key, Status: v[zsync.FieldUserStatus],
				Fields: map[string]string{mapping.FieldEmail: v[zsync.FieldEmail], mapping.FieldEmployeeUniqueID: v[zsync.FieldEmployeeUniqueID],
					mapping.FieldExtension: v[zsync.FieldExtension], mapping.FieldID: key},
				Link: mapping.Link{EntryID: v[zsync.FieldDirID], Rule: v[zsync.FieldDirRule]}})
			current[zsync.UserRef{Account: account, Key: key}] = v
		})
		if err != nil {
			return nil, err
		}
	}
	res := mapping.Compute(mp.rules, users, snap)

	want := map[zsync.UserRef]map[string]string{}
	state := func(r mapping.Ref, s string) {
		want[zsync.UserRef{Account: r.Account, Key: r.Key}] = map[string]string{zsync.FieldMapping: s}
	}
	for _, u := range res.UnmatchedUsers {
		state(u, "unmatched")
	}
	for _, c := range res.Conflicts {
		for _, u := range c.Users {
			state(u, "conflict")
		}
	}
	indices := map[string]map[string][]zsync.UserRef{"uid": {}, "employee_number": {}, "mail": {}}
	for _, l := range res.Links {
		e := &snap.Entries[l.Entry]
		p := entryProfile(snap, e)
		ref := zsync.UserRef{Account: l.User.Account, Key: l.User.Key}
		want[ref] = map[string]string{zsync.FieldMapping: "matched", zsync.FieldDirID: e.ID, zsync.FieldDirDN: e.DN,
			zsync.FieldDirUID: p.UID, zsync.FieldDirEmployeeNumber: p.EmployeeNumber, zsync.FieldDirDisplayName: p.DisplayName,
			zsync.FieldDirDepartment: p.Department, zsync.FieldDirTitle: p.Title, zsync.FieldDirPhone: p.Phone,
			zsync.FieldDirDisabled: boolString(e.Disabled), zsync.FieldDirRule: l.Rule}
		for name, v := range map[string]string{"uid": p.UID, "employee_number": p.EmployeeNumber, "mail": p.Mail} {
			if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
				indices[name][v] = append(indices[name][v], ref)
			}
		}
	}
	version := zsync.PullVersion(start)
	var writes []zsync.Write
	for ref, fields := range want {
		cur := current[ref]
		w := zsync.Write{Account: ref.Account, UserKey: ref.Key}
		changed := false
		for _, f := range linkFields {
			if cur[f] != fields[f] {
				changed = true
			}
		}
		if !changed {
			continue
		}
		for _, f := range linkFields {
			w.Fields = append(w.Fields, zsync.FieldWrite{Name: f, Version: version, Value: fields[f]})
		}
		writes = append(writes, w)
	}
	for chunk := range slices.Chunk(writes, 500) {
		if _, err := mp.store.ApplyBatch(ctx, chunk); err != nil {
			return nil, err
		}
	}
	view := zsync.MappingView{Indices: indices, Report: reportItems(snap, res), Computed: start, Snapshot: meta,
		Counts: map[string]int{"matched": len(res.Links), "users": len(users), "entries": len(snap.Entries)}}
	if err := zsync.SaveMapping(ctx, mp.rdb, view); err != nil {
		return nil, err
	}
	mp.m.mappingRuns.WithLabelValues("ok").Inc()
	for cat, items := range view.Report {
		mp.m.mappingReport.WithLabelValues(cat).Set(float64(len(items)))
	}
	mp.m.mappingReport.WithLabelValues("matched").Set(float64(len(res.Links)))
	mp.mu.Lock()
	mp.last = res
	mp.mu.Unlock()
	mp.log.Info("links computed", slog.Int("users", len(users)), slog.Int("entries", len(snap.Entries)),
		slog.Int("matched", len(res.Links)), slog.Int("unmatched_users", len(res.UnmatchedUsers)),
		slog.Int("unmatched_entries", len(res.UnmatchedEntries)), slog.Int("conflicts", len(res.Conflicts)),
		slog.Int("disabled_active", len(res.DisabledActive)), slog.Int("links_written", len(writes)),
		slog.Duration("duration", mp.clock.Since(start)))
	return res, nil
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

func entryProfile(s *directory.Snapshot, e *directory.Entry) profile {
	first := func(attrs ...string) string {
		for _, a := range attrs {
			if v := s.First(e, a); v != "" {
				return v
			}
		}
		return ""
	}
	return profile{
		UID:            first("uid", "sAMAccountName"),
		EmployeeNumber: first("employeeNumber", "employeeID"),
		DisplayName:    first("displayName", "cn"),
		Mail:           first("mail"),
		Department:     first("departmentNumber", "department"),
		Title:          first("title"),
		Phone:          first("telephoneNumber"),
	}
}

// reportItems renders the result's lists as the report's JSON items.
func reportItems(snap *directory.Snapshot, res *mapping.Result) map[string][]json.RawMessage {
	out := map[string][]json.RawMessage{}
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
		}{e.DN, entryProfile(snap, e)})
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
		}{l.User, e.DN, entryProfile(snap, e)})
	}
	return out
}
