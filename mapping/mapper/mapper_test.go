package mapper

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/directory/dirfake"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/people"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// counts is an Observer that counts (the metrics' stand-in).
type counts struct {
	mu    sync.Mutex
	reads map[string]int
	runs  map[string]int
}

func (c *counts) DirectoryRead(result string, _ int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads[result]++
}

func (c *counts) MappingRun(result string, _ map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs[result]++
}

func (c *counts) read(result string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[result]
}

// testMapper is a mapper of account "A" by email=mail over the directory
// at url, with what it observed.
func testMapper(t *testing.T, rdb redis.UniversalClient, url string, clock clockwork.Clock, every time.Duration) (*Mapper, *counts) {
	t.Helper()
	dir, err := directory.New(directory.Config{URL: url, BindDN: people.ServiceBindDN, BindPassword: secret.New(people.ServicePassword),
		BaseDN: people.UsersDN}, directory.Options{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	obs := &counts{reads: map[string]int{}, runs: map[string]int{}}
	return New(rdb, zsync.NewStore(rdb, 4, 2*time.Hour), dir, Options{Rules: []mapping.Rule{{ZoomField: "email", Attribute: "mail"}},
		Accounts: []string{"A"}, Lease: coord.NewLease(rdb, "mapping", coord.LeaseOptions{Owner: "t", Clock: clock}), Clock: clock,
		Observer: obs, MaxDrop: 0.05, Every: every, Debounce: time.Millisecond}), obs
}

// readOnce runs the directory read job once under the mapping lease, as
// the runner does; its error is a failed or refused read, or a failed
// link computation.
func readOnce(ctx context.Context, mp *Mapper) error {
	ran, err := mp.lease.Hold(ctx, readJob{mp}.Run)
	if err == nil && !ran {
		err = errors.New("the mapping lease is held elsewhere")
	}
	return err
}

// peopleAndMapper starts miniredis holding Zoom users 1..n of account
// "A" (active, with directory person i's email; user keys uid+"-zoom"), a
// fake directory of people 1..n, and a mapper over both.
func peopleAndMapper(t *testing.T, n int) (*zsync.Store, *dirfake.Server, *Mapper, *counts) {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	store := zsync.NewStore(rdb, 4, 2*time.Hour)
	var writes []zsync.Write
	for i := 1; i <= n; i++ {
		v := zsync.PullVersion(time.Now())
		writes = append(writes, zsync.Write{Account: "A", UserKey: people.At(i).UID + "-zoom", Fields: []zsync.FieldWrite{
			{Name: zsync.FieldEmail, Version: v, Value: people.At(i).Mail}, {Name: zsync.FieldUserStatus, Version: v, Value: "active"}}})
	}
	if _, err := store.ApplyBatch(context.Background(), writes); err != nil {
		t.Fatal(err)
	}
	fake, err := dirfake.Start(dirfake.Options{People: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	mp, met := testMapper(t, rdb, fake.URL(), clockwork.NewRealClock(), time.Hour)
	return store, fake, mp, met
}

// TestDirectorySafetyRules: a directory that shrinks past the delete
// fraction, comes back empty, or cannot be reached changes no link; a
// small, believable change does.
func TestDirectorySafetyRules(t *testing.T) {
	ctx := context.Background()
	store, fake, mp, met := peopleAndMapper(t, 100)
	matched := func() int {
		n := 0
		for i := 1; i <= 100; i++ {
			if r, err := store.User(ctx, "A", people.At(i).UID+"-zoom"); err == nil && r.Fields[zsync.FieldDirID] != "" {
				n++
			}
		}
		return n
	}
	reads := func(result string) int { return met.read(result) }

	readOnce(ctx, mp)
	if n := matched(); n != 100 || reads("ok") != 1 {
		t.Fatalf("first run: %d linked, %v ok reads", n, reads("ok"))
	}
	for i := 1; i <= 30; i++ { // 30% gone: a broken read, not a layoff
		fake.Remove(people.At(i).DN())
	}
	readOnce(ctx, mp)
	if n := matched(); n != 100 || reads("refused") != 1 {
		t.Fatalf("after a 30%% drop: %d linked, %v refused", n, reads("refused"))
	}
	for i := 3; i <= 30; i++ { // back, but for two people who really left
		fake.Put(dirfake.Entry{DN: people.At(i).DN(), Attributes: people.At(i).Attributes()})
	}
	readOnce(ctx, mp)
	if n := matched(); n != 98 || reads("ok") != 2 {
		t.Fatalf("after two leave: %d linked, %v ok reads", n, reads("ok"))
	}
	r, _ := store.User(ctx, "A", people.At(1).UID+"-zoom")
	if r.Fields[zsync.FieldMapping] != "unmatched" || r.Fields[zsync.FieldDirDN] != "" {
		t.Fatalf("a user whose entry left: %v", r.Fields)
	}
	for i := 3; i <= 100; i++ {
		fake.Remove(people.At(i).DN())
	}
	readOnce(ctx, mp) // empty directory
	fake.Close()
	readOnce(ctx, mp) // unreachable
	if n := matched(); n != 98 || reads("refused") != 2 || reads("failed") != 1 {
		t.Fatalf("after empty and unreachable reads: %d linked, %v refused, %v failed", n, reads("refused"), reads("failed"))
	}
}

// BenchmarkRemap100k: one link computation over 100,000 users and entries
// in redis-server, links already in place (the steady state of a refresh).
func BenchmarkRemap100k(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	r := testserver.StartRedis(b, testserver.RedisOptions{})
	rdb := r.Client()
	store := zsync.NewStore(rdb, zsync.DefaultPartitions, 2*time.Hour)
	attrs := mapstore.ProfileAttributes()
	snap := &directory.Snapshot{Flavor: directory.OpenLDAP, Attributes: attrs}
	for i := 1; i <= n; i += 1000 {
		var ws []zsync.Write
		for j := i; j < i+1000; j++ {
			p := people.At(j)
			v := zsync.PullVersion(time.Now())
			ws = append(ws, zsync.Write{Account: "A", UserKey: p.UID + "z", Fields: []zsync.FieldWrite{
				{Name: zsync.FieldEmail, Version: v, Value: p.Mail}, {Name: zsync.FieldUserStatus, Version: v, Value: "active"}}})
			vals := make([][]string, len(attrs))
			pa := p.Attributes()
			for k, a := range attrs {
				vals[k] = pa[a]
			}
			snap.Entries = append(snap.Entries, directory.NewEntry(p.DN(), fmt.Sprintf("id-%d", j), false, vals))
		}
		if _, err := store.ApplyBatch(ctx, ws); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := mapstore.SaveSnapshot(ctx, rdb, snap, time.Now(), 0.05, nil); err != nil {
		b.Fatal(err)
	}
	clock := clockwork.NewRealClock()
	mp := New(rdb, store, nil, Options{Rules: []mapping.Rule{{ZoomField: "email", Attribute: "mail"}}, Accounts: []string{"A"}, Clock: clock})
	if _, w, err := mp.remap(ctx); err != nil || w != n {
		b.Fatalf("cold: %d written, %v", w, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, w, err := mp.remap(ctx); err != nil || w != 0 {
			b.Fatalf("steady: %d written, %v", w, err)
		}
	}
}

// TestFailedDirectoryReadIsRetriedSoon: after a read that failed or was
// refused, the mapper reads again after a tenth of the refresh interval,
// not a whole interval later.
func TestFailedDirectoryReadIsRetriedSoon(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	fake, err := dirfake.Start(dirfake.Options{People: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	clock := clockwork.NewFakeClock()
	mp, met := testMapper(t, rdb, fake.URL(), clock, 10*time.Minute)
	reads := func(result string) int { return met.read(result) }
	done := make(chan struct{})
	go func() { defer close(done); mp.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// wait polls cond in real time; fake time moves step at a time so
	// the mapper's timers fire in order.
	wait := func(what string, step time.Duration, cond func() bool) time.Duration {
		t.Helper()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var advanced time.Duration
		for deadline := time.After(20 * time.Second); !cond(); {
			select {
			case <-tick.C:
				clock.Advance(step)
				advanced += step
			case <-deadline:
				t.Fatalf("%s: not within 20 s", what)
			}
		}
		return advanced
	}
	wait("the first read", 0, func() bool { return reads("ok") == 1 })
	for i := 1; i <= 50; i++ {
		fake.Remove(people.At(i).DN())
	}
	mp.RefreshNow()
	wait("the refused read", 0, func() bool { return reads("refused") == 1 })
	for i := 1; i <= 50; i++ {
		fake.Put(dirfake.Entry{DN: people.At(i).DN(), Attributes: people.At(i).Attributes()})
	}
	// The retry comes 30 s later (a tenth of the interval, at most 30 s),
	// long before the 10-minute refresh.
	if took := wait("the retried read", time.Second, func() bool { return reads("ok") == 2 }); took > 2*time.Minute {
		t.Fatalf("the read was retried after %v of fake time", took)
	}
	if reads("refused") != 1 {
		t.Fatalf("refused reads: %v", reads("refused"))
	}
}

// TestAddIndexIsOrderFree: users named by one value are listed sorted,
// whatever order they came in, so an unchanged index has an unchanged
// digest and is not written again.
func TestAddIndexIsOrderFree(t *testing.T) {
	for _, order := range [][]string{{"A/u1", "A/u2", "B/u0"}, {"B/u0", "A/u2", "A/u1"}, {"A/u2", "B/u0", "A/u1"}} {
		ix := map[string]string{}
		for _, ref := range order {
			addIndex(ix, mapstore.IndexValue(" Ada@Example.com "), ref)
		}
		addIndex(ix, mapstore.IndexValue("  "), "A/u9") // no value: not indexed
		if got := ix["ada@example.com"]; got != "A/u1,A/u2,B/u0" || len(ix) != 1 {
			t.Fatalf("order %v: %v", order, ix)
		}
	}
}

// TestEntryFactsContinueTheLinkSum: a matched user's dir_sum, continued
// from its entry's facts, is the digest of its whole link state (links
// stored by earlier versions are not rewritten), and the index keys are
// the entry's profile values in index form.
func TestEntryFactsContinueTheLinkSum(t *testing.T) {
	attrs := []string{"uid", "employeeNumber", "displayName", "cn", "mail", "title"}
	snap := &directory.Snapshot{Flavor: directory.OpenLDAP, Attributes: attrs, Entries: []directory.Entry{
		directory.NewEntry("uid=ada,ou=people", "id-1", false, [][]string{{"Ada"}, {" 0042 "}, {"Ada L."}, nil, {"Ada@Example.com", "a@x"}, nil}),
		directory.NewEntry("uid=bob,ou=people", "id-2", true, [][]string{{"bob"}, nil, nil, {"Bob"}, nil, {"CTO"}}),
		directory.NewEntry("cn=empty", "dn:cn=empty", false, make([][]string, len(attrs))),
	}}
	profiles := newProfiler(snap)
	facts := newEntryFacts(snap, profiles)
	want := [][3]string{{"ada", "0042", "ada@example.com"}, {"bob", "", ""}, {"", "", ""}}
	for i := range snap.Entries {
		for _, rule := range []string{"email=mail", "employee_unique_id=employeeNumber", ""} {
			ls := entryState(&snap.Entries[i], profiles)
			ls[linkRule] = rule
			h := facts.sums[i].Value(rule).Value("matched")
			if got, want := h.Base36(), ls.sum(); got != want || !h.IsBase36(want) || h.IsBase36(want+"0") || h.IsBase36(want[1:]) {
				t.Errorf("entry %d, rule %q: continued sum %s, link state's %s", i, rule, got, want)
			}
		}
		if got := [3]string{facts.key(i, 0), facts.key(i, 1), facts.key(i, 2)}; got != want[i] {
			t.Errorf("entry %d: index keys %q, want %q", i, got, want[i])
		}
	}
	// The sum is the one earlier versions stored (FNV-1a, zero byte after
	// each value, base 36): fixed values guard the format.
	if got := newLinkState("unmatched").sum(); got != fnvBase36("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00unmatched\x00") {
		t.Errorf("unmatched sum %s", got)
	}
	ada := entryState(&snap.Entries[0], profiles)
	ada[linkRule] = "email=mail"
	if got := ada.sum(); got != fnvBase36("id-1\x00uid=ada,ou=people\x00Ada\x00 0042 \x00Ada L.\x00\x00\x00\x00\x00email=mail\x00matched\x00") {
		t.Errorf("matched sum %s", got)
	}
}

func fnvBase36(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return strconv.FormatUint(h.Sum64(), 36)
}

// TestLookupIndicesFollowTheDirectory: the lookup indices are only built
// when their digest changed; a changed uid or employee number, and a
// value two linked entries share, reach them, and an unchanged run leaves
// them as they were; a directory mail the Zoom email index answers is
// left out.
func TestLookupIndicesFollowTheDirectory(t *testing.T) {
	ctx := context.Background()
	store, fake, mp, _ := peopleAndMapper(t, 20)
	rdb := mp.rdb
	index := func(name, value string) string {
		t.Helper()
		v, err := rdb.HGet(ctx, mapstore.IndexKey(name), value).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		return v
	}
	run := func() {
		t.Helper()
		if err := readOnce(ctx, mp); err != nil {
			t.Fatal("mapping run failed")
		}
	}
	run()
	p3, p4 := people.At(3), people.At(4)
	ref3, ref4 := "A/"+p3.UID+"-zoom", "A/"+p4.UID+"-zoom"
	if got := index("uid", strings.ToLower(p3.UID)); got != ref3 {
		t.Fatalf("uid index of %s: %q, want %q", p3.UID, got, ref3)
	}
	// A directory mail equal to the linked user's Zoom email is left out:
	// the Zoom email index answers it with the same user.
	if got := index("mail", strings.ToLower(p3.Mail)); got != "" {
		t.Fatalf("mail index of %s: %q, want it left out", p3.Mail, got)
	}
	if keys, err := store.LookupEmail(ctx, "A", p3.Mail); err != nil || !slices.Equal(keys, []string{p3.UID + "-zoom"}) {
		t.Fatalf("the Zoom email index of %s: %v, %v", p3.Mail, keys, err)
	}
	sum := func() string { return rdb.HGet(ctx, "zs:{map}:meta", "sum:ix:uid").Val() }
	before := sum()
	run()
	if sum() != before {
		t.Fatal("an unchanged run changed the uid index's digest")
	}

	// Person 3 gets a new uid and shares person 4's employee number.
	a3 := p3.Attributes()
	a3["uid"] = []string{"Renamed3"}
	a3["employeeNumber"] = p4.Attributes()["employeeNumber"]
	fake.Put(dirfake.Entry{DN: p3.DN(), Attributes: a3})
	run()
	if got := index("uid", "renamed3"); got != ref3 {
		t.Fatalf("uid index after the rename: %q, want %q", got, ref3)
	}
	if got := index("uid", strings.ToLower(p3.UID)); got != "" {
		t.Fatalf("the old uid is still indexed: %q", got)
	}
	emp := strings.ToLower(p4.Attributes()["employeeNumber"][0])
	if got, want := index("employee_number", emp), strings.Join(slices.Sorted(slices.Values([]string{ref3, ref4})), ","); got != want {
		t.Fatalf("shared employee number: %q, want %q", got, want)
	}
}
