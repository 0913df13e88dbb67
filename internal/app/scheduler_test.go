package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/periodic"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/sync/runs"
)

// jobResults counts what a periodic.Observer is told, and signals each
// run.
type jobResults struct {
	mu   sync.Mutex
	n    map[string]int // job/result → runs
	runs chan string
}

func (r *jobResults) JobRun(job, result string, _ time.Time, _ time.Duration) {
	r.mu.Lock()
	r.n[job+"/"+result]++
	r.mu.Unlock()
	r.runs <- job + "/" + result
}

// TestOnlyOneReplicaRunsTheScheduledResync: three replicas' runners on
// one Redis, each with serve's scheduled resync, see the same tick;
// exactly one runs the resync, the others leave the tick to it.
func TestOnlyOneReplicaRunsTheScheduledResync(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	z := startGatedZoom(t, 20)
	cfg := loadConfig(t, serveEnv(z.fake, r.URL(), "127.0.0.1:0"))
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 24, 1, 59, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	var stopped sync.WaitGroup
	defer func() { cancel(); stopped.Wait() }()
	obs := &jobResults{n: map[string]int{}, runs: make(chan string, 10)}
	z.close() // the holder is still pulling while the others tick
	for _, name := range []string{"a", "b", "c"} {
		jobs := periodic.New(periodic.Options{Clock: clock, Logger: discard(), Observer: obs})
		jobs.Add(newTestResyncer(t, r.Client(), cfg, name, clock).ScheduleSpec("0 2 * * *"))
		stopped.Add(1)
		go func() { defer stopped.Done(); jobs.Run(ctx) }()
	}
	if err := clock.BlockUntilContext(ctx, 3); err != nil { // all three wait for 02:00
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	<-z.arrived
	next := func() string {
		t.Helper()
		select {
		case k := <-obs.runs:
			return k
		case <-time.After(30 * time.Second):
			t.Fatal("no run reported within 30 s")
			return ""
		}
	}
	for range 2 {
		if k := next(); k != runs.JobResync+"/skipped" {
			t.Fatalf("a replica beside the running resync: %s", k)
		}
	}
	z.open()
	if k := next(); k != runs.JobResync+"/ok" {
		t.Fatalf("the holder: %s", k)
	}
	if h := holder(t, r.Client()); h != "" {
		t.Fatalf("the resync lease is still held by %s", h)
	}
}
