package zsync

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMappingInputsFollowRecords: whatever writes a partition gets
// (pulled rows, webhook changes, presence of an unknown user, extensions,
// links, stale and derived-only writes, deletions and comebacks), the
// mapping inputs hash says what the records say (ScanUsers reads them one
// by one); a hash that is missing, incomplete or holds a malformed entry
// is rebuilt from the records before it is read.
func TestMappingInputsFollowRecords(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, time.Hour)
		fromRecords := func() map[string]MappingInput {
			t.Helper()
			out := map[string]MappingInput{}
			err := s.ScanUsers(ctx, "A", []string{FieldEmail, FieldEmployeeUniqueID, FieldExtension, FieldDirID, FieldDirRule, FieldDirSum},
				func(key, status string, v []string) {
					out[key] = MappingInput{Key: key, Status: status, Email: v[0], EmployeeUniqueID: v[1], Extension: v[2],
						DirID: v[3], DirRule: v[4], DirSum: v[5]}
				})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		fromInputs := func() map[string]MappingInput {
			t.Helper()
			ins, err := s.MappingInputs(ctx, "A")
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]MappingInput{}
			for _, in := range ins {
				if _, dup := out[in.Key]; dup {
					t.Fatalf("user %s listed twice", in.Key)
				}
				out[in.Key] = in
			}
			return out
		}
		same := func(when string, wantUsers int) {
			t.Helper()
			want, got := fromRecords(), fromInputs()
			if len(want) != wantUsers {
				t.Fatalf("%s: the records hold %d live users, want %d: %v", when, len(want), wantUsers, want)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("%s: mapping inputs\n%v\nrecords\n%v", when, got, want)
			}
		}
		apply := func(ws ...Write) {
			t.Helper()
			if _, err := s.ApplyBatch(ctx, ws); err != nil {
				t.Fatal(err)
			}
		}
		pull, hook := PullVersion(t0), WebhookVersion(t0.Add(time.Minute).UnixMilli())
		later := PullVersion(t0.Add(time.Hour))
		users := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"}
		for _, u := range users {
			apply(Write{Account: "A", UserKey: u, Fields: []FieldWrite{fw(FieldEmail, pull, u+"@Example.com"),
				fw(FieldUserStatus, pull, "active"), fw(FieldEmployeeUniqueID, pull, "E:"+u+":12")}})
		}
		same("after a pull", len(users))

		apply(
			// Webhooks: an email change, presence of a user never seen.
			Write{Account: "A", UserKey: "u1", Fields: []FieldWrite{fw(FieldEmail, hook, "ada@new.example.com")}},
			Write{Account: "A", UserKey: "stranger", Fields: []FieldWrite{fw(FieldPresence, hook, "available")}},
			// A phone pull reaching a user first.
			Write{Account: "A", UserKey: "phone-only", Fields: []FieldWrite{fw(FieldExtension, pull, "1001")}},
			// A link, and a link for nobody (never creates a record).
			Write{Account: "A", UserKey: "u2", Fields: []FieldWrite{fw(FieldDirID, pull, "6f0e-1"), fw(FieldDirRule, pull, "email=mail"),
				fw(FieldDirSum, pull, "abc"), fw(FieldMapping, pull, "matched")}},
			Write{Account: "A", UserKey: "ghost", Fields: []FieldWrite{fw(FieldDirID, pull, "6f0e-2")}},
			// A stale email and a presence change: nothing for the inputs.
			Write{Account: "A", UserKey: "u3", Fields: []FieldWrite{fw(FieldEmail, PullVersion(t0.Add(-time.Hour)), "old@example.com"),
				fw(FieldPresence, hook, "in_meeting")}},
			// Values the packing must not confuse: separators, digits,
			// empty values, multi-byte text.
			Write{Account: "A", UserKey: "u4", Fields: []FieldWrite{fw(FieldEmployeeUniqueID, hook, `3:"a\\b/c","<&>`), fw(FieldExtension, hook, "")}},
			Write{Account: "A", UserKey: "u5", Fields: []FieldWrite{fw(FieldEmail, hook, "zoë@exämple.com")}},
			// Deleted, and deleted then back.
			Write{Account: "A", UserKey: "u6", Fields: []FieldWrite{fw(FieldUserStatus, hook, StatusDeleted)}},
			Write{Account: "A", UserKey: "u7", Fields: []FieldWrite{fw(FieldUserStatus, hook, StatusDeleted)}},
		)
		apply(Write{Account: "A", UserKey: "u7", Fields: []FieldWrite{fw(FieldUserStatus, later, "inactive")}})
		same("after webhooks, links and deletions", len(users)-1+2)

		// A hash lost or never kept (an upgrade): rebuilt on read.
		for p := 0; p < s.keys.partitions; p++ {
			rdb.Del(ctx, s.keys.mappingInputs("A", p))
		}
		same("after the hashes were deleted", len(users)+1)
		for p := 0; p < s.keys.partitions; p++ {
			if rdb.HExists(ctx, s.keys.mappingInputs("A", p), inputsComplete).Val() != true {
				t.Fatalf("partition %d not marked complete after its rebuild", p)
			}
		}
		// An entry behind its record (an older replica's write) is repaired by
		// the next pull of the user; a malformed one by a rebuild.
		key := s.keys.mappingInputs("A", s.keys.partition("u8"))
		rdb.HSet(ctx, key, "u8", `["active","old","","","","",""]`)
		apply(Write{Account: "A", UserKey: "u8", Fields: []FieldWrite{fw(FieldEmail, later, "u8@example.com"), fw(FieldUserStatus, later, "active")}})
		same("after a pull repaired an entry", len(users)+1)
		rdb.HSet(ctx, key, "u8", `["active"`)
		same("after a malformed entry", len(users)+1)

		if expire != nil { // tombstones expire (miniredis only: real TTLs take an hour)
			expire(2 * time.Hour)
			same("after tombstones expired", len(users)+1)
		}
	})
}

func TestUnpackInputs(t *testing.T) {
	for _, tc := range []struct {
		packed string
		ok     bool
	}{
		{`["active","a","","","","",""]`, true},
		{`["","","","","","",""]`, true},
		{`["active","a","","","","",""`, false},     // unterminated
		{`["active","a","","","",""]`, false},       // six values
		{`["active","a","","","","","",""]`, false}, // eight values
		{`["active","a\"b","","","","",""]`, true},  // an escaped quote
		{`["active","a\u00e9","","","","",""]`, true},
		{`["active","a\x","","","","",""]`, false}, // a bad escape
		{`{"a":1}`, false},
		{``, false},
		{"active\x1fa\x1f\x1f\x1f\x1f\x1f", true},      // the separator form
		{"active\x1fa\x1f\x1f\x1f\x1f", false},         // six values
		{"active\x1fa\x1f\x1f\x1f\x1f\x1f\x1f", false}, // eight values
	} {
		t.Run(tc.packed, func(t *testing.T) {
			in, err := unpackInputs("u", tc.packed)
			if (err == nil) != tc.ok {
				t.Fatalf("unpack(%q) = %+v, %v; want ok=%v", tc.packed, in, err, tc.ok)
			}
		})
	}
	in, _ := unpackInputs("u", `["active","","a\",\"b","","","",""]`)
	if in.Status != "active" || in.Email != "" || in.EmployeeUniqueID != `a","b` {
		t.Fatalf("%+v", in)
	}
}

// TestMappingInputsPacking: entries are packed with a separator, as JSON
// when a value holds the separator or the entry would start with '[', and
// every form (JSON written by earlier versions too) reads back the same.
func TestMappingInputsPacking(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 1, time.Hour)
		v := PullVersion(t0)
		users := map[string][3]string{ // status, email, employee unique id
			"plain":     {"active", "jo@example.com", "E1"},
			"separator": {"active", "sep@example.com", "E\x1f2"},
			"bracket":   {"[odd", "br@example.com", "E3"},
		}
		for key, u := range users {
			if _, err := s.Apply(ctx, Write{"A", key, []FieldWrite{fw(FieldUserStatus, v, u[0]), fw(FieldEmail, v, u[1]), fw(FieldEmployeeUniqueID, v, u[2])}}); err != nil {
				t.Fatal(err)
			}
		}
		check := func(when string) {
			t.Helper()
			ins, err := s.MappingInputs(ctx, "A")
			if err != nil || len(ins) != len(users) {
				t.Fatalf("%s: %v, %v", when, ins, err)
			}
			for _, in := range ins {
				if u := users[in.Key]; in.Status != u[0] || in.Email != u[1] || in.EmployeeUniqueID != u[2] {
					t.Fatalf("%s: %+v, want %v", when, in, u)
				}
			}
		}
		key := s.keys.mappingInputs("A", 0)
		for user, json := range map[string]bool{"plain": false, "separator": true, "bracket": true} {
			if got := rdb.HGet(ctx, key, user).Val(); strings.HasPrefix(got, "[") != json {
				t.Fatalf("%s packed as %q", user, got)
			}
		}
		rdb.HSet(ctx, key, inputsComplete, "x")
		check("packed by the apply script")
		// As versions before the separator form wrote it.
		rdb.HSet(ctx, key, "plain", `["active","jo@example.com","E1","","","",""]`)
		check("an entry written as JSON")
		rdb.Del(ctx, key)
		check("rebuilt")
	})
}
