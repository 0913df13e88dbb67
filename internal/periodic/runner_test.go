package periodic

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/coord"
)

func testRedis(t *testing.T) redis.UniversalClient {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// results counts what an Observer is told, and signals each run.
type results struct {
	mu   sync.Mutex
	n    map[string]int // job/result → runs
	runs chan string    // job/result, for waiting
}

func newResults() *results { return &results{n: map[string]int{}, runs: make(chan string, 100)} }

func (r *results) JobRun(job, result string, _ time.Time, _ time.Duration) {
	r.mu.Lock()
	r.n[job+"/"+result]++
	r.mu.Unlock()
	r.runs <- job + "/" + result
}

// next waits for the next run reported.
func (r *results) next(t *testing.T) string {
	t.Helper()
	select {
	case k := <-r.runs:
		return k
	case <-time.After(10 * time.Second):
		t.Fatal("no run within 10 s")
		return ""
	}
}

func start(t *testing.T, r *Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestOneReplicaRunsEachTick: replicas with the same spec on one lease
// each see every tick; the one that gets the lease runs the job, the
// others skip it (not a failure).
func TestOneReplicaRunsEachTick(t *testing.T) {
	rdb := testRedis(t)
	clock := clockwork.NewFakeClock()
	var runs atomic.Int32
	release := make(chan struct{})
	obs := newResults()
	for _, name := range []string{"a", "b", "c"} {
		r := New(Options{Clock: clock, Observer: obs})
		r.Add(Spec{Name: "work", Schedule: Every(time.Minute), Lease: coord.NewLease(rdb, "work", coord.LeaseOptions{Owner: name, Clock: clock}),
			Job: JobFunc(func(ctx context.Context, f coord.Fence) error {
				runs.Add(1)
				<-release // still running while the others tick
				return nil
			})})
		start(t, r)
	}
	if err := clock.BlockUntilContext(context.Background(), 3); err != nil { // each waits for its minute
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	for range 2 {
		if k := obs.next(t); k != "work/skipped" {
			t.Fatalf("a replica without the lease: %s", k)
		}
	}
	close(release)
	if k := obs.next(t); k != "work/ok" || runs.Load() != 1 {
		t.Fatalf("the holder: %s, %d runs", k, runs.Load())
	}
}

// TestFailedRunsBackOff: a failed run is retried after the first
// interval, then twice as long each time up to the maximum, long before
// the next due time; a success resets the backoff.
func TestFailedRunsBackOff(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	obs := newResults()
	var fail atomic.Bool
	fail.Store(true)
	r := New(Options{Clock: clock, Observer: obs})
	r.Add(Spec{Name: "read", Schedule: Every(10 * time.Minute), AtStart: true, Retry: Backoff{First: 30 * time.Second, Max: 100 * time.Second},
		Job: JobFunc(func(context.Context, coord.Fence) error {
			if fail.Load() {
				return errors.New("directory unreachable")
			}
			return nil
		})})
	start(t, r)
	t0 := clock.Now()
	// waitRun advances fake time by d once the runner waits (for its due
	// time, and its retry after a failure) and expects a run then, and
	// none before.
	waiting := 2
	waitRun := func(d time.Duration, want string) {
		t.Helper()
		if err := clock.BlockUntilContext(ctx, waiting); err != nil {
			t.Fatal(err)
		}
		clock.Advance(d - time.Second)
		if err := clock.BlockUntilContext(ctx, waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case k := <-obs.runs:
			t.Fatalf("%s a second early", k)
		default:
		}
		clock.Advance(time.Second)
		if k := obs.next(t); k != want {
			t.Fatalf("after %v: %s, want %s", clock.Since(t0), k, want)
		}
		waiting = 1
		if want == "read/failed" {
			waiting = 2
		}
	}
	if k := obs.next(t); k != "read/failed" {
		t.Fatal(k)
	}
	waitRun(30*time.Second, "read/failed")
	waitRun(60*time.Second, "read/failed")
	waitRun(100*time.Second, "read/failed") // 120 s capped
	fail.Store(false)
	waitRun(100*time.Second, "read/ok")
	if got := clock.Since(t0); got != 290*time.Second {
		t.Fatalf("the fourth retry came after %v", got)
	}
	// Reset: the next failure is retried after 30 s again. The due time
	// (10 min after start) comes first.
	fail.Store(true)
	waitRun(10*time.Minute-290*time.Second, "read/failed")
	waitRun(30*time.Second, "read/failed")
}

// TestKicksCoalesce: a burst of kicks within the debounce makes one run,
// and a kick during a run makes one more after it.
func TestKicksCoalesce(t *testing.T) {
	ctx := context.Background()
	clock := clockwork.NewFakeClock()
	obs := newResults()
	kick := NewKick()
	var runs atomic.Int32
	inRun, release := make(chan struct{}), make(chan struct{})
	r := New(Options{Clock: clock, Observer: obs})
	r.Add(Spec{Name: "link", Kick: kick, Debounce: 2 * time.Second, Job: JobFunc(func(context.Context, coord.Fence) error {
		if runs.Add(1) == 1 {
			inRun <- struct{}{}
			<-release
		}
		return nil
	})})
	start(t, r)
	for range 5 {
		kick.Kick()
	}
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the debounce
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	<-inRun
	for range 5 { // during the run: one more run after it
		kick.Kick()
	}
	close(release)
	if k := obs.next(t); k != "link/ok" {
		t.Fatal(k)
	}
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if k := obs.next(t); k != "link/ok" || runs.Load() != 2 {
		t.Fatalf("%s after %d runs", k, runs.Load())
	}
	select {
	case k := <-obs.runs:
		t.Fatalf("a third run: %s", k)
	default:
	}
}

// TestKeptLeaseStaysUntilTheHolderStops: a job that keeps its lease runs
// every tick on the replica that took it (the other skips); when that
// replica stops, it gives the lease up and the other runs the job at its
// next tick.
func TestKeptLeaseStaysUntilTheHolderStops(t *testing.T) {
	ctx := context.Background()
	rdb := testRedis(t)
	clock := clockwork.NewFakeClock()
	obs := newResults()
	var ran sync.Map // owner → runs
	stops := map[string]func(){}
	for _, name := range []string{"a", "b"} {
		r := New(Options{Clock: clock, Observer: obs})
		lease := coord.NewLease(rdb, "sweep:A", coord.LeaseOptions{Owner: name, Clock: clock})
		r.Add(Spec{Name: "sweep:" + name, Schedule: Every(time.Second), Lease: lease, Keep: true,
			Job: JobFunc(func(_ context.Context, f coord.Fence) error {
				if f.Owner != name {
					t.Errorf("%s ran with %s's fence", name, f.Owner)
				}
				n, _ := ran.LoadOrStore(name, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
				return nil
			})})
		stops[name] = start(t, r)
	}
	tick := func(waiters int) (ok, skipped string) {
		t.Helper()
		// Both wait for their second; the holder's renewal ticker too.
		if err := clock.BlockUntilContext(ctx, waiters); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		for range 2 {
			switch k := obs.next(t); {
			case len(k) > 3 && k[len(k)-3:] == "/ok":
				ok = k
			default:
				skipped = k
			}
		}
		return ok, skipped
	}
	first, _ := tick(2)
	for range 3 {
		if ok, skipped := tick(3); ok != first || skipped == "" {
			t.Fatalf("the lease moved while its holder lived: %s ran, %s", ok, skipped)
		}
	}
	holder, other := first[len("sweep:"):len(first)-len("/ok")], "a"
	if holder == "a" {
		other = "b"
	}
	stops[holder]()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if k := obs.next(t); k != "sweep:"+other+"/ok" {
		t.Fatalf("after %s stopped: %s", holder, k)
	}
}

// TestCronIsUTC: a cron schedule's next time is in UTC whatever the
// zone of the time it follows; an impossible one is an error.
func TestCronIsUTC(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no zone data:", err)
	}
	next, err := Cron("0 2 * * *").Next(time.Date(2026, 11, 24, 2, 30, 0, 0, paris)) // 01:30 UTC
	if err != nil || !next.Equal(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("next %v, %v", next, err)
	}
	if _, err := Cron("0 0 30 2 *").Next(time.Now()); err == nil {
		t.Fatal("30 February has a next run")
	}
}
