package zsync

import (
	"context"
	"fmt"
	"testing"
	"time"

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
