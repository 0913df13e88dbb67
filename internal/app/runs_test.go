package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/sync/runs"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// newTestResyncer builds the resyncer serve builds, for one replica.
func newTestResyncer(t *testing.T, rdb redis.UniversalClient, cfg *config.Config, replica string, clock clockwork.Clock) *runs.Resyncer {
	t.Helper()
	clients := map[string]*zoomapi.Client{}
	for _, a := range cfg.Zoom.Accounts {
		c, err := zoomapi.NewClient(a.Credentials(), zoomapi.WithBaseURL(cfg.Zoom.APIBaseURL), zoomapi.WithTokenURL(cfg.Zoom.TokenURL),
			zoomapi.WithRateLimits(cfg.Zoom.RateLimits))
		if err != nil {
			t.Fatal(err)
		}
		clients[a.ID] = c
	}
	return runs.New(rdb, newStore(rdb, cfg), runs.Options{Accounts: clients, MaxDeleteFraction: cfg.Resync.MaxDeleteFraction,
		Lease: coord.NewLease(rdb, "resync", coord.LeaseOptions{Owner: replica, Clock: clock}), Replica: replica, Clock: clock, Observer: newMetrics()})
}

// holder is the run holding the resync lease ("" for none).
func holder(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	h, err := coord.NewLease(rdb, "resync", coord.LeaseOptions{}).Holder(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := runs.ParseOwner(h.Owner)
	return id
}

func runKeys(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	return len(rdb.Keys(context.Background(), "zs:{runs}:*").Val())
}

// TestResyncCommandAndScheduleOneAtATime: the CronJob's command and the
// in-process schedule share one lease. While a scheduled run holds it the
// command gives up at once (--wait 0) naming that run, or waits and then
// runs its own; while the command runs, a scheduled tick is skipped.
func TestResyncCommandAndScheduleOneAtATime(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	z := startGatedZoom(t, 50)
	cfg := loadConfig(t, serveEnv(z.fake, r.URL(), "127.0.0.1:0"))
	ctx := context.Background()
	sched := newTestResyncer(t, r.Client(), cfg, "replica-a", clockwork.NewRealClock())

	z.close()
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Scheduled(ctx) }()
	<-z.arrived
	schedRun := holder(t, r.Client())
	if schedRun == "" {
		t.Fatal("the scheduled run does not hold the lease under its run id")
	}

	// --wait 0: one line naming the running run, and a kind that says
	// "later".
	var out bytes.Buffer
	err := Resync(ctx, cfg, ResyncOptions{Stdout: &out, Replica: "job-1"})
	var held *RunningError
	if !errors.As(err, &held) || held.RunID != schedRun || held.Trigger != runs.TriggerSchedule || held.Replica != "replica-a" ||
		!strings.Contains(err.Error(), "run "+schedRun+" (started by schedule on replica-a at ") || strings.Contains(err.Error(), "\n") ||
		errs.KindOf(err) != errs.Transient {
		t.Fatalf("resync beside a scheduled run: %v (%+v)", err, held)
	}
	if strings.Contains(out.String(), "seen") {
		t.Fatalf("it pulled anyway:\n%s", out.String())
	}

	// --wait 1m: it waits for the scheduled run, then runs its own.
	clock := clockwork.NewFakeClock()
	out.Reset()
	cliDone := make(chan error, 1)
	go func() {
		cliDone <- Resync(ctx, cfg, ResyncOptions{Wait: time.Minute, Clock: clock, Stdout: &out, Replica: "job-2"})
	}()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // waiting for its next look
		t.Fatal(err)
	}
	z.open()
	if err := <-schedDone; err != nil {
		t.Fatal(err)
	}
	clock.Advance(runs.LeasePoll)
	if err := <-cliDone; err != nil || !strings.Contains(out.String(), "account acct-1: seen 50") {
		t.Fatalf("the waiting resync: %v\n%s", err, out.String())
	}
	if h := holder(t, r.Client()); h != "" {
		t.Fatalf("lease still held by %s after both runs", h)
	}

	// The command holds the lease: the scheduled tick is skipped and
	// leaves no record.
	z.close()
	out.Reset()
	go func() { cliDone <- Resync(ctx, cfg, ResyncOptions{Stdout: &out, Replica: "job-3"}) }()
	<-z.arrived
	before := runKeys(t, r.Client())
	if err := sched.Scheduled(ctx); err != nil {
		t.Fatalf("a skipped tick is not a failure: %v", err)
	}
	if after := runKeys(t, r.Client()); after != before {
		t.Fatalf("the skipped tick left a record (%d run records, %d before)", after, before)
	}
	z.open()
	if err := <-cliDone; err != nil {
		t.Fatal(err)
	}
}

// TestResyncCommandAndAPIOneAtATime: a replica's API-started run and the
// command exclude each other both ways; the 409 names the command's run,
// which GET /v1/resync/{run_id} shows like any other.
func TestResyncCommandAndAPIOneAtATime(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	z := startGatedZoom(t, 50)
	env := serveEnv(z.fake, r.URL(), "127.0.0.1:0")
	const token = "helpdesk-token-0123456789"
	env["ZOOMSYNC_API_TOKENS"] = token
	cfg := loadConfig(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, _ := startServe(ctx, cfg, "replica-a")
	eventually(t, "ready", func() bool { return status(base+"/readyz") == 200 })

	// The API's run holds the lease: the command names it.
	z.close()
	code, m := resyncCall(t, base, http.MethodPost, "", token)
	if code != http.StatusAccepted || m["status"] != runs.StatusRunning {
		t.Fatalf("POST: %d %v", code, m)
	}
	apiRun := m["run_id"].(string)
	<-z.arrived
	err := Resync(ctx, cfg, ResyncOptions{Stdout: &bytes.Buffer{}, Replica: "job-1"})
	var held *RunningError
	if !errors.As(err, &held) || held.RunID != apiRun || held.Trigger != runs.TriggerAPI {
		t.Fatalf("resync beside an API run: %v", err)
	}
	z.open()
	eventually(t, "the API run succeeds", func() bool {
		_, m := resyncCall(t, base, http.MethodGet, apiRun, token)
		return m["status"] == runs.StatusSucceeded
	})

	// The command holds the lease: the API answers 409 naming its run.
	z.close()
	var out bytes.Buffer
	cliDone := make(chan error, 1)
	go func() { cliDone <- Resync(ctx, cfg, ResyncOptions{Stdout: &out, Replica: "job-2"}) }()
	<-z.arrived
	code, m = resyncCall(t, base, http.MethodPost, "", token)
	e, _ := m["error"].(map[string]any)
	cliRun, _ := e["run_id"].(string)
	if code != http.StatusConflict || e["code"] != "resync_running" || cliRun == "" || !strings.Contains(e["message"].(string), "started by cli on job-2") {
		t.Fatalf("POST while the command runs: %d %v", code, m)
	}
	if code, m = resyncCall(t, base, http.MethodGet, cliRun, token); code != 200 || m["trigger"] != runs.TriggerCLI || m["status"] != runs.StatusRunning || m["replica"] != "job-2" {
		t.Fatalf("GET the command's run: %d %v", code, m)
	}
	z.open()
	if err := <-cliDone; err != nil || !strings.Contains(out.String(), "resync run "+cliRun) {
		t.Fatalf("the command: %v\n%s", err, out.String())
	}
	if _, m = resyncCall(t, base, http.MethodGet, cliRun, token); m["status"] != runs.StatusSucceeded || len(m["accounts"].([]any)) != 1 {
		t.Fatalf("the command's run after it ended: %v", m)
	}
}

// TestResyncCommandReleasesTheLease: the command renews the lease while
// it runs (a long pull outlives the TTL), and releases it when stopped
// (SIGTERM ends the context), so the next run need not wait for the TTL;
// its record says it was interrupted.
func TestResyncCommandReleasesTheLease(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	z := startGatedZoom(t, 20)
	cfg := loadConfig(t, serveEnv(z.fake, r.URL(), "127.0.0.1:0"))
	rdb := r.Client()
	clock := clockwork.NewFakeClock()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	z.close()
	done := make(chan error, 1)
	go func() {
		done <- Resync(ctx, cfg, ResyncOptions{Clock: clock, Stdout: &bytes.Buffer{}, Replica: "job-1"})
	}()
	<-z.arrived
	run := holder(t, rdb)
	value := rdb.Get(ctx, "zs:{lease:resync}").Val()

	// As if most of the TTL had passed: only a renewal brings it back.
	rdb.PExpire(ctx, "zs:{lease:resync}", 3*time.Second)
	eventually(t, "the lease renewed", func() bool {
		clock.Advance(10 * time.Second) // the renewal period, TTL/3
		return rdb.PTTL(ctx, "zs:{lease:resync}").Val() > 3*time.Second
	})
	if v := rdb.Get(ctx, "zs:{lease:resync}").Val(); v != value {
		t.Fatalf("lease %q after renewal, was %q", v, value)
	}

	stop() // SIGTERM
	if err := <-done; err == nil {
		t.Fatal("a stopped resync reported success")
	}
	if h := holder(t, rdb); h != "" {
		t.Fatalf("lease still held by %s after the command stopped", h)
	}
	var rec runs.Record
	if err := json.Unmarshal([]byte(rdb.Get(context.Background(), runs.Key(run)).Val()), &rec); err != nil ||
		rec.Status != runs.StatusFailed || !strings.Contains(rec.Error, "interrupted") || rec.Trigger != runs.TriggerCLI {
		t.Fatalf("record of the stopped run: %+v (%v)", rec, err)
	}
}
