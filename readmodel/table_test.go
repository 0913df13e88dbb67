package readmodel

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
)

func testPerson(i int) Person {
	return Person{Account: []string{"A", "B"}[i%2], Key: fmt.Sprintf("id%04d", i), Email: fmt.Sprintf("User.%d@Example.com", i),
		DisplayName: fmt.Sprintf("Name %03d", i%97), Status: []presence.Status{presence.Available, presence.Away}[i%3%2],
		ZoomStatus: "Available", Extension: fmt.Sprint(1000 + i), Linked: true, DN: fmt.Sprintf("uid=u%d,ou=people,dc=example,dc=com", i),
		Department: fmt.Sprintf("Dept %d", i%5), Title: "Engineer", DirKeys: []string{fmt.Sprintf("u%d", i), fmt.Sprint(i)}, StatusSince: int64(i)}
}

func lookup(t *table, k int, v string) []string {
	kt := t.keyTables()[k]
	var out []string
	kt.each(hashKey(v), func(i uint32) bool {
		if string(t.keyOf(i, k)) == v {
			out = append(out, t.person(i).Key)
		}
		return true
	})
	slices.Sort(out)
	return out
}

// TestTableKeepsKeysThroughChanges: every key finds its user after puts,
// replacements that change strings, and removals (the key tables' backward
// shift keeps every other entry reachable, also when they start tiny and
// grow).
func TestTableKeepsKeysThroughChanges(t *testing.T) {
	tb := newTable(0)
	const n = 2000
	for i := range n {
		p := testPerson(i)
		tb.put(&p)
	}
	for i := 0; i < n; i += 3 { // new email and name for a third
		p := testPerson(i)
		p.Email, p.DisplayName = fmt.Sprintf("moved.%d@example.com", i), "Renamed "+p.DisplayName
		tb.put(&p)
	}
	for i := 1; i < n; i += 5 {
		tb.remove(testPerson(i).Account, testPerson(i).Key)
	}
	for i := range n {
		p := testPerson(i)
		gone := i%5 == 1
		email := strings.ToLower(p.Email)
		if i%3 == 0 {
			email = fmt.Sprintf("moved.%d@example.com", i)
		}
		want := []string{p.Key}
		if gone {
			want = nil
		}
		for k, v := range []string{p.Key, email, p.Extension, p.DirKeys[0], p.DirKeys[1]} {
			if got := lookup(tb, k, v); !slices.Equal(got, want) {
				t.Fatalf("user %d key table %d value %q: %v, want %v", i, k, v, got, want)
			}
		}
		if i%3 == 0 && !gone {
			if got := lookup(tb, 1, strings.ToLower(p.Email)); got != nil {
				t.Fatalf("user %d: old email still finds %v", i, got)
			}
			if got := tb.person(mustFind(t, tb, p)); got.DisplayName != "Renamed "+p.DisplayName || got.Email != fmt.Sprintf("moved.%d@example.com", i) {
				t.Fatalf("user %d reads %+v", i, got)
			}
		}
	}
	if want := n - n/5; tb.live != want || len(tb.order) != want {
		t.Fatalf("live %d order %d, want %d", tb.live, len(tb.order), want)
	}
	if !slices.IsSortedFunc(tb.order, tb.cmpRows) {
		t.Fatal("order not sorted after changes")
	}
	tb.compact()
	if tb.garbage != 0 {
		t.Fatal("compaction left garbage")
	}
	p := testPerson(4)
	if got := tb.person(mustFind(t, tb, p)); got.DN != p.DN || got.Email != p.Email || !slices.Equal(got.DirKeys, p.DirKeys) || got.Department != p.Department {
		t.Fatalf("after compaction %+v", got)
	}
}

func mustFind(t *testing.T, tb *table, p Person) uint32 {
	t.Helper()
	i, ok := tb.find(p.Account, p.Key)
	if !ok {
		t.Fatalf("%s/%s not found", p.Account, p.Key)
	}
	return i
}

// TestSearchPagesInOrder: a search's pages, followed by their cursors,
// list every match once, in the board's order, with the counts.
func TestSearchPagesInOrder(t *testing.T) {
	tb := newTable(0)
	tb.bulk = true
	for i := range 500 {
		p := testPerson(i)
		tb.put(&p)
	}
	tb.sortOrder()
	tb.bulk = false
	cases := []struct {
		name  string
		q     Query
		match func(p Person) bool
	}{
		{"all", Query{}, func(Person) bool { return true }},
		{"name", Query{Q: "NAME 01"}, func(p Person) bool { return strings.HasPrefix(p.DisplayName, "Name 01") }},
		{"email", Query{Q: "user.42@"}, func(p Person) bool { return strings.HasPrefix(strings.ToLower(p.Email), "user.42@") }},
		{"department", Query{Q: "dept 3"}, func(p Person) bool { return p.Department == "Dept 3" }},
		{"status and account", Query{Statuses: []presence.Status{presence.Away}, Account: "B"},
			func(p Person) bool { return p.Status == presence.Away && p.Account == "B" }},
		{"unknown account", Query{Account: "C"}, func(Person) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []string
			for i := range 500 {
				if p := testPerson(i); c.match(p) {
					want = append(want, p.Account+"/"+p.Key)
				}
			}
			var got []Person
			q := c.q
			q.Limit = 7
			for pages := 0; ; pages++ {
				page := tb.search(q)
				if page.Total != 500 || page.Matched != len(want) {
					t.Fatalf("total %d matched %d, want 500 and %d", page.Total, page.Matched, len(want))
				}
				got = append(got, page.People...)
				if page.Next == nil || pages > 200 {
					break
				}
				q.After = page.Next
			}
			var keys []string
			for _, p := range got {
				keys = append(keys, p.Account+"/"+p.Key)
			}
			if !slices.IsSortedFunc(got, func(a, b Person) int {
				return cmpPeople(a, b)
			}) {
				t.Errorf("not in order: %v", keys)
			}
			slices.Sort(keys)
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Errorf("got %d people, want %d", len(keys), len(want))
			}
		})
	}
}

func cmpPeople(a, b Person) int {
	if c := strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Account, b.Account); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}

// TestPersonRoundTrip: what is put is read back whole.
func TestPersonRoundTrip(t *testing.T) {
	tb := newTable(0)
	p := Person{Account: "A", Key: "k1", Email: "Ada@Example.com", DisplayName: "Ada Lovelace", Status: presence.OnCall, ZoomStatus: "On_Phone_Call",
		StatusSince: 17, ConfirmedAt: 18, OnCall: true, AgentStatus: "ready", UserStatus: "active", Linked: true,
		DN: `cn=Lovelace\, Ada,ou=people,dc=example,dc=com`, Department: "R&D", Title: "Countess", Extension: "1001", DirKeys: []string{"ada", "7"}}
	p.version = 99
	got := tb.person(tb.put(&p))
	if fmt.Sprint(got) != fmt.Sprint(p) {
		t.Fatalf("got %+v\nwant %+v", got, p)
	}
}

// personOfByName is personOf written by field name, as a check of its
// positions.
func personOfByName(account, key string, vals []string) Person {
	get := func(f string) string { return vals[fieldPos[f]] }
	msOf := func(f string) int64 { n, _ := strconv.ParseInt(get(f), 10, 64); return max(n, 0) }
	onCall := get(zsync.FieldCallState) == "on_call"
	status := presence.Status(get(zsync.FieldStatus))
	if status == "" { // recorded before effective statuses were kept
		status = presence.Effective(presence.Sources{Presence: presence.Status(get(zsync.FieldPresence)), OnCall: onCall,
			UserStatus: get(zsync.FieldUserStatus)})
	}
	p := Person{Account: account, Key: key, Email: get(zsync.FieldEmail), DisplayName: DisplayName(get), Status: status,
		ZoomStatus: get(zsync.FieldZoomStatus), StatusSince: msOf(zsync.FieldStatusSince), ConfirmedAt: msOf(zsync.FieldConfirmedAt),
		OnCall: onCall, AgentStatus: get(zsync.FieldAgentStatus), UserStatus: get(zsync.FieldUserStatus),
		Linked: get(zsync.FieldDirID) != "", DN: get(zsync.FieldDirDN),
		Department: cmp.Or(get(zsync.FieldDirDepartment), get(zsync.FieldDept)), Title: get(zsync.FieldDirTitle),
		Extension: get(zsync.FieldExtension),
		version:   versionOf(get("vmax"), get(zsync.FieldStatusSeq), get(zsync.FieldDirSum))}
	for _, f := range KeyFields() {
		p.DirKeys = append(p.DirKeys, get(f))
	}
	return p
}

// TestPersonOfPositions: personOf reads each field from its position.
func TestPersonOfPositions(t *testing.T) {
	vals := make([]string, len(readFields))
	for i := range vals {
		vals[i] = fmt.Sprint(i + 1)
	}
	vals[fieldPos[zsync.FieldStatus]] = ""
	vals[fieldPos[zsync.FieldPresence]] = "away"
	vals[fieldPos[zsync.FieldUserStatus]] = "active"
	for _, blank := range []string{"", zsync.FieldDisplayName} {
		v := slices.Clone(vals)
		if blank != "" {
			v[fieldPos[blank]] = ""
		}
		if got, want := personOf("A", "k", v), personOfByName("A", "k", v); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	}
}
