package app

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// BenchmarkRedisMemoryLayout is a tool, not a figure of BENCHMARKS.md:
// it pulls and links ZOOMSYNC_BENCH_MEMORY_LAYOUT users (the real binary's
// resync and map, as BenchmarkPipeline's set-up), gives every active user
// a presence, and logs where Redis's bytes go, kind of key by kind of key
// (memoryByKind). It reports redis-bytes/user (record, indices, links,
// history; without the target's state, which needs serve).
func BenchmarkRedisMemoryLayout(b *testing.B) {
	if os.Getenv("ZOOMSYNC_BENCH_MEMORY_LAYOUT") == "" {
		b.Skip("set ZOOMSYNC_BENCH_MEMORY_LAYOUT to a number of users (5000 takes about a minute)")
	}
	users := envInt(b, "ZOOMSYNC_BENCH_MEMORY_LAYOUT", 5000)
	r := testserver.StartRedis(b, testserver.RedisOptions{})
	rdb := r.Client()
	fake, acct := startFakeB(b, users)
	slapd := testserver.StartSlapd(b, testserver.SlapdOptions{Users: users})
	bin := buildBinary(b)
	env := os.Environ()
	for k, v := range serveEnv(fake, r.URL(), "127.0.0.1:0") {
		env = append(env, k+"="+v)
	}
	env = append(env, "ZOOMSYNC_ZOOM_RATE_LIMITS=light=0,medium=0,heavy=0,phone.light=0,phone.medium=0,phone.heavy=0,cc.light=0,cc.medium=0,cc.heavy=0")
	empty := usedMemory(b, rdb)
	runMeasured(b, bin, env, fmt.Sprintf("seen %d, created %d", users, users), "resync")
	env = append(env, "LDAP_URL="+slapd.URL, "LDAP_BIND_DN="+testserver.ServiceBindDN, "LDAP_BIND_PASSWORD="+testserver.ServicePassword,
		"LDAP_BASE_DN="+testserver.UsersDN, "LDAP_PAGE_SIZE=1000", "ZOOMSYNC_MATCH_RULES=email=mail")
	runMeasured(b, bin, env, fmt.Sprintf("directory: %d entries; links: matched", users), "map")
	linked := usedMemory(b, rdb)
	b.Logf("pulled and linked, %.0f B per user (used_memory):\n%s", (linked-empty)/float64(users), memoryByKind(b, rdb, users))

	store := zsync.NewStore(rdb, zsync.DefaultPartitions, 7*24*time.Hour)
	var active []zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	week := time.Now().Add(-7 * 24 * time.Hour).UnixMilli()
	applyPresence(b, store, active, func(i int, u zoomfake.User) (string, int64) {
		st := u.Presence
		if presence.ParseZoomStatus(st) == presence.OnCall {
			st = "Available"
		}
		return st, week + int64(i%1000)
	})
	withPresence := usedMemory(b, rdb)
	perUser := (linked-empty)/float64(users) + (withPresence-linked)/float64(len(active))
	b.Logf("and a presence for each of the %d active users, %.0f B per user (used_memory):\n%s", len(active), perUser, memoryByKind(b, rdb, users))
	for b.Loop() {
	}
	b.ReportMetric(perUser, "redis-bytes/user")
}

// keyKind names a key's kind: the hash tag and the user or generation in
// it left out ("zs:{a:X:p:03}:u:ID" is "u", "zs:{dir}:g:4:c:7" is
// "{dir}:g:c").
func keyKind(key string) string {
	if m := userKeyRE.FindStringSubmatch(key); m != nil {
		return m[1]
	}
	if m := partKeyRE.FindStringSubmatch(key); m != nil {
		return m[1]
	}
	return digitsRE.ReplaceAllString(strings.TrimPrefix(key, "zs:"), "")
}

var (
	userKeyRE = regexp.MustCompile(`^zs:\{a:[^}]*:p:\d+\}:(u|hl|h):`)
	partKeyRE = regexp.MustCompile(`^zs:\{a:[^}]*:p:\d+\}:(.*)$`)
	digitsRE  = regexp.MustCompile(`\d+`)
)

// memoryByKind is, per kind of key (keyKind): how many, their MEMORY
// USAGE per user and per key, their encodings, and for hashes the
// fields per key; for user records, also what the version fields (v:*)
// hold and the longest value.
func memoryByKind(tb testing.TB, rdb redis.UniversalClient, users int) string {
	tb.Helper()
	ctx := context.Background()
	type kind struct {
		keys, bytes, fields int64
		enc                 map[string]int
		sample              string
	}
	kinds := map[string]*kind{}
	var vFields, vBytes, recFields, longest int64
	var longestField string
	iter := rdb.Scan(ctx, 0, "zs:*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		name := keyKind(key)
		k := kinds[name]
		if k == nil {
			k = &kind{enc: map[string]int{}}
			kinds[name] = k
		}
		usage, _ := rdb.MemoryUsage(ctx, key, 0).Result()
		enc, _ := rdb.ObjectEncoding(ctx, key).Result()
		typ, _ := rdb.Type(ctx, key).Result()
		if k.keys == 0 {
			k.sample = sampleOf(ctx, rdb, key, typ)
		}
		k.keys++
		k.bytes += usage
		k.enc[enc]++
		if typ == "hash" {
			n, _ := rdb.HLen(ctx, key).Result()
			k.fields += n
		}
		if name == "u" {
			m, _ := rdb.HGetAll(ctx, key).Result()
			for f, v := range m {
				recFields++
				if strings.HasPrefix(f, "v:") {
					vFields++
					vBytes += int64(len(f) + len(v))
				}
				if int64(len(v)) > longest {
					longest, longestField = int64(len(v)), f
				}
			}
		}
	}
	if err := iter.Err(); err != nil {
		tb.Fatal(err)
	}
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return int(kinds[b].bytes - kinds[a].bytes) })
	var out strings.Builder
	var total int64
	for _, n := range names {
		k := kinds[n]
		total += k.bytes
		fmt.Fprintf(&out, "  %-22s %7d keys %8.1f B/user %9.0f B/key", n, k.keys, float64(k.bytes)/float64(users), float64(k.bytes)/float64(k.keys))
		if k.fields > 0 {
			fmt.Fprintf(&out, " %7.1f fields/key", float64(k.fields)/float64(k.keys))
		}
		fmt.Fprintf(&out, " %v\n", k.enc)
	}
	for _, n := range names {
		fmt.Fprintf(&out, "  sample of %s: %s\n", n, kinds[n].sample)
	}
	fmt.Fprintf(&out, "  total (MEMORY USAGE) %.1f B/user", float64(total)/float64(users))
	if recFields > 0 {
		fmt.Fprintf(&out, "; records: %d fields, %d of them versions (v:*, %.1f B of name and value per record), longest value %d B (%s)",
			recFields, vFields, float64(vBytes)/float64(kinds["u"].keys), longest, longestField)
	}
	return out.String()
}

// sampleOf is a short view of one key's content: a record whole, one
// entry of another hash, set or list, the start of a string.
func sampleOf(ctx context.Context, rdb redis.UniversalClient, key, typ string) string {
	var v any
	switch typ {
	case "hash":
		if strings.Contains(key, "}:u:") {
			v, _ = rdb.HGetAll(ctx, key).Result()
		} else {
			v, _ = rdb.HRandFieldWithValues(ctx, key, 2).Result()
		}
	case "list":
		v, _ = rdb.LRange(ctx, key, 0, 1).Result()
	case "set":
		v, _ = rdb.SRandMemberN(ctx, key, 2).Result()
	case "zset":
		v, _ = rdb.ZRandMember(ctx, key, 2).Result()
	case "string":
		s, _ := rdb.GetRange(ctx, key, 0, 300).Result()
		v = fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%s %v", key, v)
}
