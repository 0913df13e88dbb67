package readmodel

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/fnv1a"
	"github.com/zoomsync/zoomsync/internal/people"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// syntheticID is a 22-character id shaped like Zoom's.
func syntheticID(i int) string {
	s := strconv.FormatUint(fnv1a.Sum64("user:"+strconv.Itoa(i)), 36) + strconv.FormatUint(fnv1a.Sum64("id:"+strconv.Itoa(i)), 36)
	for len(s) < 22 {
		s += "x"
	}
	return s[:22]
}

var statuses = []presence.Status{presence.Available, presence.Away, presence.DND, presence.InMeeting, presence.OnCall, presence.Offline}

// syntheticPerson is generated person i as a linked Zoom user: what a
// real record gives the model.
func syntheticPerson(i int) Person {
	p := people.At(i)
	ext := ""
	if i%2 == 0 {
		ext = strconv.Itoa(10000 + i%90000)
	}
	return Person{Account: []string{"acct-1", "acct-2"}[i%2], Key: syntheticID(i), Email: p.Mail, DisplayName: p.First + " " + p.Last,
		Status: statuses[i%len(statuses)], ZoomStatus: "Available", StatusSince: 1764763200000 + int64(i), ConfirmedAt: 1764763200000 + int64(i),
		UserStatus: "active", Linked: true, DN: p.DN(), Department: p.Department, Title: p.Title, Extension: ext,
		DirKeys: []string{p.UID, p.EmployeeNumber}, version: uint64(i)}
}

// syntheticTable holds n generated users, built as a load builds it.
func syntheticTable(n int) *table {
	t := newTable(n + n/8)
	t.bulk = true
	for i := range n {
		p := syntheticPerson(i + 1)
		t.put(&p)
	}
	t.sortOrder()
	t.bulk = false
	t.trim()
	return t
}

// BenchmarkReadModelMemory: heap bytes per user of a model holding
// 100,000 and 1,000,000 generated users (linked, with extensions for
// half), measured as the live heap after a GC with and without it (the
// 1,000,000 run only with ZOOMSYNC_BENCH_1M=1). Goal: ≤ 250 bytes/user
// at both sizes.
func BenchmarkReadModelMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%dk", n/1000), func(b *testing.B) {
			if n > 100_000 && os.Getenv("ZOOMSYNC_BENCH_1M") == "" {
				b.Skip("set ZOOMSYNC_BENCH_1M=1 (task bench does)")
			}
			var per []float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				t := syntheticTable(n)
				runtime.GC()
				runtime.ReadMemStats(&after)
				per = append(per, float64(after.HeapAlloc-before.HeapAlloc)/float64(n))
				runtime.KeepAlive(t)
			}
			b.ReportMetric(median(per), "heap-bytes/user")
		})
	}
}

func median(x []float64) float64 {
	x = slices.Clone(x)
	slices.Sort(x)
	return x[len(x)/2]
}

func percentile(d []time.Duration, p int) float64 {
	d = slices.Clone(d)
	slices.Sort(d)
	return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds()) / 1000
}

// BenchmarkReadModelSearch100k: GET /v1/people's search over 100,000
// users from memory: the board's queries (a name, a surname, an email, a
// department, an extension, a uid, a status filter, an account, the
// first and a later page), p50 and p99. Goal: p99 ≤ 10 ms.
func BenchmarkReadModelSearch100k(b *testing.B) {
	t := syntheticTable(100_000)
	second := t.search(Query{Limit: 50}).Next
	queries := []Query{
		{Limit: 50}, {Q: "grace", Limit: 50}, {Q: "lovelace", Limit: 50}, {Q: "ada.turing.4", Limit: 50}, {Q: "d017", Limit: 50},
		{Q: "10042", Limit: 50}, {Q: "u00123", Limit: 50}, {Statuses: []presence.Status{presence.Available, presence.Away}, Limit: 50},
		{Account: "acct-2", Q: "hopper", Limit: 50}, {After: second, Limit: 50}, {Q: "nobody-has-this", Limit: 50}, {Q: "e", Limit: 500},
	}
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		for range 20 { // 240 searches a run: a p99 that is not the maximum
			for _, q := range queries {
				t0 := time.Now()
				_ = t.search(q)
				lat = append(lat, time.Since(t0))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(percentile(lat, 50), "p50-ms")
	b.ReportMetric(percentile(lat, 99), "p99-ms")
}

// fill writes n users to Redis as pulls do.
func fill(b *testing.B, store *zsync.Store, n int) {
	ctx := context.Background()
	v := zsync.PullVersion(time.Now().Add(-time.Hour))
	for first := 0; first < n; first += 1000 {
		ws := make([]zsync.Write, 0, 1000)
		for i := first; i < min(n, first+1000); i++ {
			p := syntheticPerson(i + 1)
			ws = append(ws, zsync.Write{Account: p.Account, UserKey: p.Key, Fields: []zsync.FieldWrite{
				{Name: zsync.FieldEmail, Version: v, Value: p.Email}, {Name: zsync.FieldUserStatus, Version: v, Value: "active"},
				{Name: zsync.FieldDisplayName, Version: v, Value: p.DisplayName}, {Name: zsync.FieldExtension, Version: v, Value: p.Extension},
				{Name: zsync.FieldPresence, Version: v, Value: "available"}, {Name: zsync.FieldZoomStatus, Version: v, Value: "Available"},
				{Name: zsync.FieldDirID, Version: v, Value: "e" + strconv.Itoa(i)}, {Name: zsync.FieldDirDN, Version: v, Value: p.DN},
				{Name: zsync.FieldDirUID, Version: v, Value: p.DirKeys[0]}, {Name: zsync.FieldDirEmployeeNumber, Version: v, Value: p.DirKeys[1]},
				{Name: zsync.FieldDirDepartment, Version: v, Value: p.Department}, {Name: zsync.FieldDirTitle, Version: v, Value: p.Title}}})
		}
		if _, err := store.ApplyBatch(ctx, ws); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadModelRebuild: a replica's start: the full load of 100,000
// users from redis-server (users/s), against the reference of reading
// the same fields of every user without building anything (the Redis
// side alone), and the heap the loaded model holds per user. Goals: ≥
// 200,000 users/s, ≤ 250 heap bytes/user.
func BenchmarkReadModelRebuild(b *testing.B) {
	const n = 100_000
	r := testserver.StartRedis(b, testserver.RedisOptions{})
	rdb := r.Client()
	store := zsync.NewStore(rdb, zsync.DefaultPartitions, time.Hour)
	fill(b, store, n)
	ctx := context.Background()
	accounts := []string{"acct-1", "acct-2"}
	var rates, refs, heap []float64
	b.ResetTimer()
	for range b.N {
		m := New(rdb, store, Options{Accounts: accounts})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		if err := m.Load(ctx, "start"); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if m.Len() != n {
			b.Fatalf("loaded %d users, want %d", m.Len(), n)
		}
		rates = append(rates, n/d.Seconds())
		heap = append(heap, float64(after.HeapAlloc-before.HeapAlloc)/n)
		runtime.KeepAlive(m)
		b.StopTimer()
		t0 = time.Now()
		for _, a := range accounts {
			if err := store.ScanUsers(ctx, a, readFields, func(string, string, []string) {}); err != nil {
				b.Fatal(err)
			}
		}
		refs = append(refs, n/time.Since(t0).Seconds())
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(median(rates), "users/s")
	b.ReportMetric(median(refs), "ref-read-users/s")
	b.ReportMetric(median(rates)/median(refs), "x-read")
	b.ReportMetric(median(heap), "heap-bytes/user")
}

// BenchmarkReadModelLag: change-to-visible lag at 1,000 presence changes
// per second over 10,000 users, on the replica that applied them (its
// model shares the store's Redis client) and on another (its own
// client): from the start of the apply to the model holding the new
// status, p50 and p99 of each. Goal: p99 ≤ 50 ms on both.
func BenchmarkReadModelLag(b *testing.B) {
	const users, rate = 10_000, 1000
	seconds := 5
	if s, err := strconv.Atoi(os.Getenv("ZOOMSYNC_BENCH_LAG_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	r := testserver.StartRedis(b, testserver.RedisOptions{})
	rdb := r.Client()
	store := zsync.NewStore(rdb, zsync.DefaultPartitions, time.Hour)
	fill(b, store, users)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	accounts := []string{"acct-1", "acct-2"}
	models := []*Model{New(rdb, store, Options{Accounts: accounts}), New(redis.NewClient(r.Options()), store, Options{Accounts: accounts})}
	type arrival struct {
		key string
		at  time.Time
	}
	var wg sync.WaitGroup
	arrivals := make([]chan arrival, len(models))
	for i, m := range models {
		changes, stop := m.Subscribe(rate * seconds * 2)
		defer stop()
		arrivals[i] = make(chan arrival, rate*seconds*2)
		go m.Run(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case p := <-changes:
					if p.Status == presence.Away {
						arrivals[i] <- arrival{p.Account + "/" + p.Key, time.Now()}
					}
				}
			}
		}()
		for !m.Ready() {
			tk := time.NewTimer(10 * time.Millisecond)
			<-tk.C
		}
	}
	var lagApplying, lagOther []time.Duration
	b.ResetTimer()
	for it := range b.N {
		started := map[string]time.Time{}
		var mu sync.Mutex
		tick := time.NewTicker(time.Second / rate)
		var apply sync.WaitGroup
		v := zsync.WebhookVersion(time.Now().UnixMilli())
		for c := range rate * seconds {
			<-tick.C
			p := syntheticPerson(c%users + 1)
			st := "away"
			if it%2 == 1 {
				st = "available" // every other round turns them back
			}
			apply.Add(1)
			go func() {
				defer apply.Done()
				t0 := time.Now()
				mu.Lock()
				started[p.Account+"/"+p.Key] = t0
				mu.Unlock()
				if _, err := store.Apply(ctx, zsync.Write{Account: p.Account, UserKey: p.Key,
					Fields: []zsync.FieldWrite{{Name: zsync.FieldPresence, Version: v + zsync.Version(2*it+2), Value: st}}}); err != nil {
					b.Error(err)
				}
			}()
		}
		tick.Stop()
		apply.Wait()
		if it%2 == 1 {
			continue // measured on the rounds to away
		}
		for i, lags := range []*[]time.Duration{&lagApplying, &lagOther} {
			seen := map[string]bool{}
			for len(seen) < min(users, rate*seconds) {
				select {
				case a := <-arrivals[i]:
					if s, ok := started[a.key]; ok && !seen[a.key] {
						seen[a.key] = true
						*lags = append(*lags, a.at.Sub(s))
					}
				case <-time.After(time.Minute):
					b.Fatalf("model %d saw %d of %d changes", i, len(seen), rate*seconds)
				}
			}
		}
	}
	b.StopTimer()
	if len(lagApplying) == 0 {
		b.Skip("run with -benchtime 1x or more rounds")
	}
	b.ReportMetric(percentile(lagApplying, 50), "p50-ms")
	b.ReportMetric(percentile(lagApplying, 99), "p99-ms")
	b.ReportMetric(percentile(lagOther, 50), "other-p50-ms")
	b.ReportMetric(percentile(lagOther, 99), "other-p99-ms")
	cancel()
	wg.Wait()
}
