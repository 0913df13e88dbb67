package zsync

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
)

// BenchmarkApplyPage applies a pulled page of 300 users (profile and
// presence facts, 3 targets) to redis-server: the apply script's cost per
// page, Go's building of its KEYS and ARGV included.
func BenchmarkApplyPage(b *testing.B) {
	r := testserver.StartRedis(b, testserver.RedisOptions{})
	rdb := r.Client()
	s := NewStore(rdb, DefaultPartitions, time.Hour).WithPresence([]string{"pbx", "cc", "hook"}, time.Hour).WithDirectoryTargets([]string{"pbx"})
	ctx := context.Background()
	page := func(n int) []Write {
		v := PullVersion(time.UnixMilli(int64(1_800_000_000_000 + n)))
		ws := make([]Write, 300)
		for i := range ws {
			u := fmt.Sprintf("user-%04d", i)
			ws[i] = Write{Account: "A", UserKey: u, Fields: []FieldWrite{
				{Name: FieldEmail, Version: v, Value: u + "@example.com"}, {Name: FieldUserStatus, Version: v, Value: "active"},
				{Name: "first_name", Version: v, Value: "F"}, {Name: "last_name", Version: v, Value: "L"},
				{Name: FieldPresence, Version: v, Value: []string{"available", "in_meeting"}[n%2]}}}
		}
		return ws
	}
	b.ResetTimer()
	for n := range b.N {
		if _, err := s.ApplyBatch(ctx, page(n)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyEvents applies webhook-shaped batches as the inbox
// consumer does (4 users of one partition per call, each a presence
// change, one target) to redis-server and reports the Redis side: µs of
// command time (INFO commandstats, scripts' own commands counted once, in
// the script's) and commands per event, and the Go side's ns per event.
func BenchmarkApplyEvents(b *testing.B) {
	r := testserver.StartRedis(b, testserver.RedisOptions{})
	rdb := r.Client()
	s := NewStore(rdb, DefaultPartitions, time.Hour).WithPresence([]string{"hook"}, 7*24*time.Hour)
	ctx := context.Background()
	// 64 users per partition, created by a pull first (the steady state).
	const perPartition = 64
	users := make([][]string, DefaultPartitions)
	for i, full := 0, 0; full < DefaultPartitions; i++ {
		u := fmt.Sprintf("user-%06d", i)
		if p := s.keys.partition(u); len(users[p]) < perPartition {
			users[p] = append(users[p], u)
			if len(users[p]) == perPartition {
				full++
			}
		}
	}
	var pull []Write
	v0 := PullVersion(time.UnixMilli(1_800_000_000_000))
	for _, us := range users {
		for _, u := range us {
			pull = append(pull, Write{Account: "A", UserKey: u, Fields: []FieldWrite{
				{Name: FieldEmail, Version: v0, Value: u + "@example.com"}, {Name: FieldUserStatus, Version: v0, Value: "active"},
				{Name: "first_name", Version: v0, Value: "F"}, {Name: "last_name", Version: v0, Value: "L"}}})
		}
	}
	if _, err := s.ApplyBatch(ctx, pull); err != nil {
		b.Fatal(err)
	}
	const perCall = 4
	statuses := []string{"available", "away", "in_meeting", "do_not_disturb"}
	before := commandStats(b, rdb)
	b.ResetTimer()
	for n := range b.N {
		p := n % DefaultPartitions
		round := n / DefaultPartitions
		v := WebhookVersion(1_800_000_001_000 + int64(n))
		ws := make([]Write, perCall)
		for i := range ws {
			u := users[p][(round*perCall+i)%perPartition]
			st := statuses[(round*perCall/perPartition+i)%len(statuses)]
			ws[i] = Write{Account: "A", UserKey: u, Fields: []FieldWrite{
				{Name: FieldZoomStatus, Version: v, Value: st}, {Name: FieldPresence, Version: v, Value: st},
				{Name: FieldPresenceSince, Version: v, Value: "2027-01-15T08:00:00Z"}}}
		}
		if _, err := s.ApplyAndAck(ctx, "A", p, ws, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after := commandStats(b, rdb)
	events := float64(b.N * perCall)
	b.ReportMetric(float64(after.usec-before.usec)/events, "redis-us/ev")
	b.ReportMetric(float64(after.calls-before.calls)/events, "redis-cmds/ev")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/ev")
}

type cmdTotals struct{ calls, usec int64 }

// commandStats sums INFO commandstats: calls of every command, and the µs
// of the top-level ones (a script's own commands are inside its time).
func commandStats(b *testing.B, rdb redis.UniversalClient) cmdTotals {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var t cmdTotals
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		var calls, usec int64
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		t.calls += calls
		if name == "cmdstat_evalsha" || name == "cmdstat_eval" || name == "cmdstat_script|load" {
			t.usec += usec
		}
	}
	return t
}
