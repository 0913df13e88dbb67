package zsync

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// backends runs a test against miniredis and a real redis-server: the
// scripts must behave the same on both.
func backends(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration))) {
	if testserver.SecureRun() {
		secureBackends(t, test) // ZOOMSYNC_TEST_REDIS=secure
		return
	}
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { rdb.Close() })
		test(t, rdb, m.FastForward)
	})
	t.Run("redis-server", func(t *testing.T) {
		r := testserver.StartRedis(t, testserver.RedisOptions{})
		test(t, r.Client(), nil)
	})
	// Three masters: every script and multi-key command must keep to one
	// slot (hash tags), and every pipeline must work across nodes.
	t.Run("redis-cluster", func(t *testing.T) {
		c := testserver.StartCluster(t)
		test(t, c.Client(t), nil)
	})
}

func ms(t time.Time) int64 { return t.UnixMilli() }

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func fw(name string, v Version, value string) FieldWrite {
	return FieldWrite{Name: name, Version: v, Value: value}
}

func TestStoreVersionRules(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		apply := func(fields ...FieldWrite) int {
			t.Helper()
			n, err := s.Apply(ctx, Write{Account: "A", UserKey: "u1", Fields: fields})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		get := func(field string) string {
			t.Helper()
			r, err := s.User(ctx, "A", "u1")
			if err != nil {
				t.Fatal(err)
			}
			return r.Fields[field]
		}
		steps := []struct {
			name    string
			write   FieldWrite
			applied int
			field   string
			want    string
		}{
			{"first write", fw("zoom_status", WebhookVersion(ms(t0)), "In_Meeting"), 1, "zoom_status", "In_Meeting"},
			{"duplicate is a no-op", fw("zoom_status", WebhookVersion(ms(t0)), "In_Meeting"), 0, "zoom_status", "In_Meeting"},
			{"older retry loses", fw("zoom_status", WebhookVersion(ms(t0.Add(-time.Minute))), "Available"), 0, "zoom_status", "In_Meeting"},
			{"pull of the same ms loses to the webhook", fw("zoom_status", PullVersion(t0), "Available"), 0, "zoom_status", "In_Meeting"},
			{"newer pull wins", fw("zoom_status", PullVersion(t0.Add(time.Millisecond)), "Away"), 1, "zoom_status", "Away"},
			{"webhook of the same ms beats the pull", fw("zoom_status", WebhookVersion(ms(t0.Add(time.Millisecond))), "Busy"), 1, "zoom_status", "Busy"},
			{"other facts are independent", fw("agent_status", WebhookVersion(ms(t0.Add(-time.Hour))), "ready"), 1, "agent_status", "ready"},
		}
		for _, st := range steps {
			if n := apply(st.write); n != st.applied {
				t.Fatalf("%s: applied %d, want %d", st.name, n, st.applied)
			}
			if got := get(st.field); got != st.want {
				t.Fatalf("%s: %s = %q, want %q", st.name, st.field, got, st.want)
			}
		}
		r, _ := s.User(ctx, "A", "u1")
		if r.Versions["zoom_status"] != WebhookVersion(ms(t0.Add(time.Millisecond))) || !r.Versions["zoom_status"].FromWebhook() {
			t.Fatalf("versions %v", r.Versions)
		}
	})
}

func TestStoreEmailIndexFollowsChanges(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		must := func(w Write) {
			t.Helper()
			if _, err := s.Apply(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		lookup := func(email string) []string {
			t.Helper()
			keys, err := s.LookupEmail(ctx, "A", email)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(keys)
			return keys
		}
		must(Write{"A", "u1", []FieldWrite{fw(FieldEmail, PullVersion(t0), "Jo@Example.com")}})
		if got := lookup("jo@example.COM"); !slices.Equal(got, []string{"u1"}) {
			t.Fatalf("case-insensitive lookup: %v", got)
		}
		// u1 changes email: the old address no longer finds it.
		must(Write{"A", "u1", []FieldWrite{fw(FieldEmail, WebhookVersion(ms(t0.Add(time.Minute))), "jo.new@example.com")}})
		if got := lookup("jo@example.com"); len(got) != 0 {
			t.Fatalf("old email still indexed: %v", got)
		}
		// The freed address is reassigned to u2 (another partition, maybe).
		must(Write{"A", "u2", []FieldWrite{fw(FieldEmail, WebhookVersion(ms(t0.Add(2*time.Minute))), "jo@example.com")}})
		// A late retry of u1's old state must not steal the address back…
		must(Write{"A", "u1", []FieldWrite{fw(FieldEmail, WebhookVersion(ms(t0)), "jo@example.com")}})
		if got := lookup("jo@example.com"); !slices.Equal(got, []string{"u2"}) {
			t.Fatalf("reassigned email: %v", got)
		}
		// …and when u1 moves on again it does not remove u2's entry.
		must(Write{"A", "u1", []FieldWrite{fw(FieldEmail, WebhookVersion(ms(t0.Add(3*time.Minute))), "jo.third@example.com")}})
		if got := lookup("jo@example.com"); !slices.Equal(got, []string{"u2"}) {
			t.Fatalf("u2's entry removed by u1: %v", got)
		}
		must(Write{"A", "u1", []FieldWrite{fw(FieldExtension, PullVersion(t0), "10042")}})
		if keys, _ := s.LookupExtension(ctx, "A", "10042"); !slices.Equal(keys, []string{"u1"}) {
			t.Fatalf("extension: %v", keys)
		}
		if keys, _ := s.LookupEmail(ctx, "B", "jo@example.com"); len(keys) != 0 {
			t.Fatalf("accounts must not share indices: %v", keys)
		}
	})
}

func TestStoreTombstones(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		w := func(v Version, status string) int {
			t.Helper()
			n, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{fw(FieldUserStatus, v, status)}})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		key := s.keys.user("A", "u1")
		w(PullVersion(t0), "active")
		if ttl := rdb.PTTL(ctx, key).Val(); ttl >= 0 {
			t.Fatalf("live record has a TTL %v", ttl)
		}
		w(WebhookVersion(ms(t0.Add(time.Hour))), StatusDeleted)
		if ttl := rdb.PTTL(ctx, key).Val(); ttl <= time.Hour || ttl > 2*time.Hour {
			t.Fatalf("tombstone TTL %v, want about 2h", ttl)
		}
		// Zoom's 60-minute retry of an older event cannot bring it back.
		if n := w(WebhookVersion(ms(t0.Add(30*time.Minute))), "active"); n != 0 {
			t.Fatal("a retry older than the deletion resurrected the user")
		}
		r, _ := s.User(ctx, "A", "u1")
		if !r.Deleted() {
			t.Fatalf("record %v", r.Fields)
		}
		// Re-created later: a live record again, without TTL.
		w(WebhookVersion(ms(t0.Add(2*time.Hour))), "active")
		if ttl := rdb.PTTL(ctx, key).Val(); ttl >= 0 {
			t.Fatalf("re-created record kept the tombstone TTL %v", ttl)
		}
		if expire != nil {
			w(WebhookVersion(ms(t0.Add(3*time.Hour))), StatusDeleted)
			expire(2*time.Hour + time.Second)
			if _, err := s.User(ctx, "A", "u1"); !errs.Is(errs.NotFound, err) {
				t.Fatalf("after the TTL: %v", err)
			}
		}
	})
}

func TestStoreApplyBatchAndBadInput(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		var page []Write
		for i := 0; i < 500; i++ {
			page = append(page, Write{"A", "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)), []FieldWrite{
				fw(FieldEmail, PullVersion(t0), "x"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.com"),
				fw(FieldUserStatus, PullVersion(t0), "active"),
			}})
		}
		n, err := s.ApplyBatch(ctx, page)
		if err != nil || len(n) != 500 || n[0] != 2 || n[499] != 2 {
			t.Fatalf("batch: %v %v", n[:3], err)
		}
		again, _ := s.ApplyBatch(ctx, page)
		if again[0] != 0 {
			t.Fatal("a replayed page must change nothing")
		}
		for _, bad := range []Write{{"", "u", nil}, {"A", "", nil}, {"A", "u", []FieldWrite{fw("v:x", 1, "")}}, {"A", "u", []FieldWrite{fw("account", 1, "B")}}, {"A", "u", []FieldWrite{fw("v#p", 1, "")}}} {
			if _, err := s.Apply(ctx, bad); !errs.Is(errs.Invalid, err) {
				t.Fatalf("%+v: %v", bad, err)
			}
		}
	})
}

func TestStoreRedisDownIsUnavailable(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer rdb.Close()
	m.Close()
	s := NewStore(rdb, 4, time.Hour)
	_, err := s.Apply(context.Background(), Write{"A", "u", []FieldWrite{fw("x", 1, "y")}})
	if !errs.Is(errs.Unavailable, err) || !errs.Retryable(err) {
		t.Fatalf("got %v", err)
	}
}

// TestDerivedFieldsNeverCreateOrAge: directory-link fields do not create a
// record for a user Zoom never told us about (or one whose tombstone
// expired), and do not count as news about the user (vmax, which the
// resync's deletion check reads).
func TestDerivedFieldsNeverCreateOrAge(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		v := PullVersion(t0)
		n, err := s.Apply(ctx, Write{"A", "ghost", []FieldWrite{fw(FieldDirID, v, "e1"), fw(FieldMapping, v, "matched")}})
		if err != nil || n != 0 {
			t.Fatalf("derived write to a missing user: %d fields, %v", n, err)
		}
		if _, err := s.User(ctx, "A", "ghost"); !errs.Is(errs.NotFound, err) {
			t.Fatalf("a link created a record: %v", err)
		}
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{fw(FieldEmail, v, "a@x.com")}}); err != nil {
			t.Fatal(err)
		}
		later := PullVersion(t0.Add(time.Hour))
		if n, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{fw(FieldDirID, later, "e1"), fw(FieldMapping, later, "matched")}}); err != nil || n != 2 {
			t.Fatalf("link on an existing user: %d, %v", n, err)
		}
		vmax, _ := rdb.HGet(ctx, s.keys.user("A", "u1"), "vmax").Int64()
		if Version(vmax) != v {
			t.Fatalf("vmax %d after a link, want %d (the email's)", vmax, v)
		}
	})
}
