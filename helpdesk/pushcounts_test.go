package helpdesk

import (
	"context"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// TestPushCountsAddsUpAcrossWrites: counts added from many goroutines,
// while Run writes them, all reach Redis (none lost between a write's
// taking of the pending counts and the next Add), and what is added
// after Run has stopped is written by a last Flush.
func TestPushCountsAddsUpAcrossWrites(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	c := NewPushCounts(rdb, nil, nil)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()

	cases := []struct {
		target, result string
		n              int
	}{
		{"pbx", "delivered", 500},
		{"pbx", "failed", 30},
		{"cc", "skipped", 70},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		for range 4 {
			wg.Go(func() {
				for range tc.n {
					c.Add(tc.target, tc.result)
				}
			})
		}
	}
	wg.Wait()
	stop()
	<-done
	c.Add("pbx", "dead") // after Run: only a Flush writes it
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := rdb.HGetAll(context.Background(), targetCountsKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pbx:delivered": "2000", "pbx:failed": "120", "cc:skipped": "280", "pbx:dead": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// TestPushCountsKeepsCountsOfAFailedWrite: a write that fails (Redis
// down) loses nothing; the next one carries its counts.
func TestPushCountsKeepsCountsOfAFailedWrite(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	c := NewPushCounts(rdb, nil, nil)
	c.Add("pbx", "delivered")
	m.SetError("LOADING down for the test")
	if err := c.Flush(context.Background()); err == nil {
		t.Fatal("a write to a failing Redis succeeded")
	}
	m.SetError("")
	c.Add("pbx", "delivered")
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.HGet(targetCountsKey(), "pbx:delivered"); got != "2" {
		t.Errorf("pbx:delivered = %q, want 2", got)
	}
}
