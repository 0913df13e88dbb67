package zsync

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// profileWrite is a full pull's row of u1: every field of the profile
// group, at version v.
func profileWrite(v Version, dept string) Write {
	w := Write{Account: "A", UserKey: "u1"}
	for _, f := range [][2]string{{FieldEmail, "jo@example.com"}, {FieldFirstName, "Jo"}, {FieldLastName, "Doe"},
		{FieldDisplayName, "Jo Doe"}, {FieldType, "1"}, {FieldDept, dept}, {FieldTimezone, "UTC"},
		{FieldEmployeeUniqueID, "E1"}, {FieldGroupIDs, "[]"}, {FieldUserStatus, "active"}} {
		w.Fields = append(w.Fields, fw(f[0], v, f[1]))
	}
	return w
}

// versionFields lists a record's stored version fields (own and group),
// sorted.
func versionFields(t *testing.T, rdb redis.UniversalClient, s *Store) []string {
	t.Helper()
	m, err := rdb.HGetAll(context.Background(), s.keys.user("A", "u1")).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		if strings.HasPrefix(k, "v:") || isGroupVersionField(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestVersionGroups: a write of a whole version group keeps one version
// for the group; a partial write keeps the written fields' own; either
// way every field's version (as read, and as the next write compares
// with it) is the version it was last written with.
func TestVersionGroups(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour).WithPresence([]string{"pbx"}, time.Hour)
		p1, p2, p3 := PullVersion(t0), PullVersion(t0.Add(time.Hour)), PullVersion(t0.Add(3*time.Hour))
		w1, w2 := WebhookVersion(ms(t0.Add(30*time.Minute))), WebhookVersion(ms(t0.Add(4*time.Hour)))
		profile := func(v Version) map[string]Version {
			m := map[string]Version{}
			for _, f := range profileWrite(0, "").Fields {
				m[f.Name] = v
			}
			return m
		}
		with := func(m map[string]Version, f string, v Version) map[string]Version {
			m = maps.Clone(m)
			m[f] = v
			return m
		}
		steps := []struct {
			name     string
			write    Write
			applied  int
			dept     string
			versions map[string]Version // of every field
			stored   []string           // the version fields stored
		}{
			{"a full pull: one version for the group", profileWrite(p1, "D1"), 10, "D1", profile(p1), []string{"v#p"}},
			{"a partial webhook: its field's own version", Write{"A", "u1", []FieldWrite{fw(FieldDept, w1, "D2")}}, 1, "D2",
				with(profile(p1), FieldDept, w1), []string{"v#p", "v:dept"}},
			{"an older write of the field loses to its own version", Write{"A", "u1", []FieldWrite{fw(FieldDept, p1+2, "D0")}}, 0, "D2",
				with(profile(p1), FieldDept, w1), []string{"v#p", "v:dept"}},
			{"an older write of another field loses to the group's", Write{"A", "u1", []FieldWrite{fw(FieldLastName, p1-2, "Old")}}, 0, "D2",
				with(profile(p1), FieldDept, w1), []string{"v#p", "v:dept"}},
			{"a newer full pull: the group's version moves, the override goes", profileWrite(p2, "D3"), 10, "D3", profile(p2), []string{"v#p"}},
			{"a webhook newer than the next pull", Write{"A", "u1", []FieldWrite{fw(FieldDept, w2, "D4")}}, 1, "D4",
				with(profile(p2), FieldDept, w2), []string{"v#p", "v:dept"}},
			{"a pull older than it: the others applied with their own versions", profileWrite(p3, "D5"), 9, "D4",
				with(profile(p3), FieldDept, w2), []string{"v#p", "v:dept", "v:display_name", "v:email", "v:employee_unique_id",
					"v:first_name", "v:group_ids", "v:last_name", "v:timezone", "v:type", "v:user_status"}},
			{"a later full pull gathers them again", profileWrite(w2+2, "D6"), 10, "D6", profile(w2 + 2), []string{"v#p"}},
		}
		for _, st := range steps {
			n, err := s.Apply(ctx, st.write)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.User(ctx, "A", "u1")
			if err != nil {
				t.Fatal(err)
			}
			if n != st.applied || r.Fields[FieldDept] != st.dept {
				t.Fatalf("%s: applied %d, dept %q; want %d, %q", st.name, n, r.Fields[FieldDept], st.applied, st.dept)
			}
			for f, v := range st.versions {
				if r.Versions[f] != v {
					t.Fatalf("%s: version of %s %d, want %d (%v)", st.name, f, r.Versions[f], v, r.Versions)
				}
			}
			if got := versionFields(t, rdb, s); !slices.Equal(got, st.stored) {
				t.Fatalf("%s: version fields %v, want %v", st.name, got, st.stored)
			}
		}
		// The outbox reads a push's fields with their versions, group or own.
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{fw(FieldPresence, w2+4, "away")}}); err != nil {
			t.Fatal(err)
		}
		pend, err := s.Outbox().Load(ctx, "A", s.keys.partition("u1"), "pbx", []string{"u1"})
		if err != nil || len(pend) != 1 || pend[0].Record == nil {
			t.Fatalf("pending %+v, %v", pend, err)
		}
		if got := pend[0].Record.Versions[FieldEmail]; got != w2+2 {
			t.Fatalf("the push's email version %d, want %d", got, w2+2)
		}
		if _, ok := pend[0].Record.Versions[FieldDirID]; ok {
			t.Fatalf("a field the record lacks has a version: %v", pend[0].Record.Versions)
		}
	})
}

// TestRecordWrittenBeforeVersionGroups: a record as versions before
// version groups wrote it (every field with its own v: field, and key and
// account fields) reads with its versions, applies newer writes and
// refuses older ones field by field, and takes the compact form at the
// next write of a whole group.
func TestRecordWrittenBeforeVersionGroups(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		pulled, linked, seen := PullVersion(t0), PullVersion(t0.Add(time.Minute)), WebhookVersion(ms(t0.Add(-time.Hour)))
		old := map[string]any{"key": "u1", "account": "A", "vmax": int64(pulled), "status": "away", "status_seq": 2,
			"status_since": ms(t0.Add(-time.Hour)), "confirmed_at": ms(t0.Add(-time.Hour)),
			FieldZoomStatus: "Away", FieldPresence: "away", FieldPresenceSince: "2026-11-24T08:00:00Z",
			FieldDirID: "id-1", FieldDirDN: "uid=jo,ou=people,dc=example,dc=com", FieldDirUID: "jo", FieldMapping: "matched",
			FieldExtension: "10001", "v:" + FieldExtension: int64(pulled)}
		for _, f := range profileWrite(0, "").Fields {
			old[f.Name], old["v:"+f.Name] = f.Value, int64(pulled)
		}
		old[FieldDept] = "D1"
		for _, f := range []string{FieldDirID, FieldDirDN, FieldDirUID, FieldMapping} {
			old["v:"+f] = int64(linked)
		}
		for _, f := range []string{FieldZoomStatus, FieldPresence, FieldPresenceSince} {
			old["v:"+f] = int64(seen)
		}
		rec := s.keys.user("A", "u1")
		if err := rdb.HSet(ctx, rec, old).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.SAdd(ctx, s.keys.members("A", s.keys.partition("u1")), "u1").Err(); err != nil {
			t.Fatal(err)
		}
		r, err := s.User(ctx, "A", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Versions[FieldDept] != pulled || r.Versions[FieldDirUID] != linked || r.Versions[FieldPresence] != seen ||
			r.Fields[FieldDept] != "D1" || r.Fields[FieldDirUID] != "jo" {
			t.Fatalf("old record read as %v %v", r.Fields, r.Versions)
		}
		if _, ok := r.Fields["key"]; ok {
			t.Fatalf("key is a field: %v", r.Fields)
		}
		apply := func(w Write, want int) {
			t.Helper()
			if n, err := s.Apply(ctx, w); err != nil || n != want {
				t.Fatalf("applied %d, %v; want %d", n, err, want)
			}
		}
		apply(Write{"A", "u1", []FieldWrite{fw(FieldDept, pulled-2, "D0"), fw(FieldPresence, seen-2, "busy")}}, 0)
		apply(Write{"A", "u1", []FieldWrite{fw(FieldDept, pulled+1, "D2")}}, 1)
		// A presence event: the whole presence group, compact from now on.
		at := WebhookVersion(ms(t0))
		apply(Write{"A", "u1", []FieldWrite{fw(FieldZoomStatus, at, "Available"), fw(FieldPresence, at, "available"),
			fw(FieldPresenceSince, at, "2026-11-24T09:00:00Z")}}, 3)
		r, _ = s.User(ctx, "A", "u1")
		if r.Fields[FieldDept] != "D2" || r.Versions[FieldDept] != pulled+1 || r.Versions[FieldEmail] != pulled ||
			r.Versions[FieldPresence] != at || r.Versions[FieldDirUID] != linked || r.Fields[FieldPresence] != "available" || r.Fields["status"] != "available" {
			t.Fatalf("after writes: %v %v", r.Fields, r.Versions)
		}
		stored := versionFields(t, rdb, s)
		if slices.Contains(stored, "v:"+FieldPresence) || !slices.Contains(stored, "v#z") || !slices.Contains(stored, "v:"+FieldEmail) {
			t.Fatalf("version fields after the presence event: %v", stored)
		}
		if n, _ := rdb.HExists(ctx, rec, "key").Result(); n {
			t.Fatal("the key field is still there after the record took the compact form")
		}
		// A full pull: the profile group compact too; the link's fields
		// keep their own versions until the next link write.
		apply(profileWrite(pulled+4, "D3"), 10)
		stored = versionFields(t, rdb, s)
		want := []string{"v#p", "v#z", "v:" + FieldDirDN, "v:" + FieldDirID, "v:" + FieldDirUID, "v:" + FieldExtension, "v:" + FieldMapping}
		if !slices.Equal(stored, want) {
			t.Fatalf("version fields after a full pull: %v, want %v", stored, want)
		}
		r, _ = s.User(ctx, "A", "u1")
		if r.Versions[FieldDept] != pulled+4 || r.Versions[FieldDirUID] != linked || r.Versions[FieldExtension] != pulled {
			t.Fatalf("versions after a full pull: %v", r.Versions)
		}
		if v, _ := rdb.HGet(ctx, rec, "v#p").Result(); v != strconv.FormatInt(int64(pulled+4), 10) {
			t.Fatalf("v#p = %q", v)
		}
	})
}
