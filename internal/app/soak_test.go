package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence/target"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestSoak runs serve (the real binary) for ZOOMSYNC_SOAK (e.g. 30m; task
// soak) at 2,000 signed webhooks per second of BenchmarkPipeline's
// realistic mix (every event a real change: presence, phone calls opened
// and ended, contact-center agent status, lifecycle and profile) against
// redis-server with AOF, a full resync every 5 minutes (the in-process
// schedule) and a verifying webhook target, sampling the process every
// 30 s. The fake Zoom's REST answers follow the webhooks (as Zoom's do),
// so the resyncs and presence re-reads meet the same truth. It fails if
// the target or zoomsync ends with a user's status other than what the
// events made it, a user's pushes go back in sequence, a resync fails or
// deletes anyone, or memory or goroutines grow after the warm-up; its
// "soak:" lines become the table in docs/BENCHMARKS.md.
func TestSoak(t *testing.T) {
	length, _ := time.ParseDuration(os.Getenv("ZOOMSYNC_SOAK"))
	if length <= 0 {
		t.Skip("set ZOOMSYNC_SOAK=30m (task soak)")
	}
	const rate, users, conns, every = 2000, 10_000, 32, 30 * time.Second
	bin := buildBinary(t)
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, users)
	rcv := newLastPushReceiver(t)
	env := serveEnv(fake, r.URL(), "")
	env["ZOOMSYNC_TARGETS_FILE"] = writeTargetsTo(t, rcv.srv.URL)
	env["ZOOMSYNC_RESYNC_SCHEDULE"] = "*/5 * * * *"
	env["ZOOMSYNC_API_TOKENS"] = apiToken
	proc, base := startServeBinary(t, bin, env)
	waitReady(t, base)
	store := zsync.NewStore(r.Client(), zsync.DefaultPartitions, 168*time.Hour)
	fakeUsers := acct.Users()
	mix := newPipelineMix(mixUsersOf(fakeUsers, readStates(t, r.Client(), store, fakeUsers)), conns, whSecret, uint64(time.Now().UnixNano()))
	mix.stampNow = true
	mix.observe = func(u *mixUser, kind mixKind) { followInFake(t, acct, u, kind) }
	ep := webhookEndpoint{addr: strings.TrimPrefix(base, "http://"), path: "/webhooks/zoom/" + acctID}

	type sample struct {
		at                 time.Duration
		rssMB              float64
		goroutines, acked  int
		resyncs, lag, pend int
		heapMB, redisMB    float64
		failures           int
	}
	var samples []sample
	acked, refused := 0, 0
	began := time.Now()
	for time.Since(began) < length {
		// Paced load for the sample's 30 s, then the sample.
		run := sendLoad(t, ep, mix, acctID, min(every, length-time.Since(began)), rate)
		acked, refused = acked+run.acked, refused+run.refused
		m := metricsText(t, base)
		s := sample{at: time.Since(began).Round(time.Second), rssMB: rssMB(proc.Process.Pid), goroutines: metricInt(m, "go_goroutines"),
			acked: acked, resyncs: metricInt(m, `zoomsync_full_pulls_total{account="`+acctID+`",result="complete"}`),
			lag: metricSum(m, "zoomsync_inbox_lag_entries"), pend: metricSum(m, "zoomsync_inbox_pending_entries"),
			heapMB: float64(metricInt(m, "go_memstats_heap_inuse_bytes")) / (1 << 20), redisMB: redisUsedMB(t, r), failures: refused}
		samples = append(samples, s)
		t.Logf("soak-sample: %v | %.1f | %.1f | %d | %d | %d | %d | %d | %.0f", s.at, s.rssMB, s.heapMB, s.goroutines, s.acked, s.failures, s.resyncs, s.lag, s.redisMB)
	}
	drainPipeline(t, r.Client(), store, "pbx")
	wrong, example := rcv.settle(t, r.Client(), store, mix)
	dups, backwards := rcv.counts()

	m := metricsText(t, base)
	failedPulls := metricInt(m, `zoomsync_full_pulls_total{account="`+acctID+`",result="failed"}`)
	resyncs := samples[len(samples)-1].resyncs
	// Warm-up: the first sixth. Compare its end with the last sixth.
	k := max(len(samples)/6, 1)
	warm, last := samples[min(k, len(samples)-1):min(2*k, len(samples))], samples[len(samples)-k:]
	med := func(ss []sample, f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	rssWarm, rssLast := med(warm, func(s sample) float64 { return s.rssMB }), med(last, func(s sample) float64 { return s.rssMB })
	gWarm, gLast := med(warm, func(s sample) float64 { return float64(s.goroutines) }), med(last, func(s sample) float64 { return float64(s.goroutines) })
	perSecond := float64(acked) / length.Seconds()
	t.Logf("soak: %v | %.0f | %d | %d | %d | %d | %d | %d | %.1f → %.1f | %.0f → %.0f", length, perSecond, acked,
		refused, wrong, dups, resyncs, failedPulls, rssWarm, rssLast, gWarm, gLast)
	if wrong > 0 {
		t.Errorf("%d users end wrong at the target or in zoomsync (e.g. %s)", wrong, example)
	}
	if backwards > 0 {
		t.Errorf("%d pushes went back in a user's sequence", backwards)
	}
	if failedPulls > 0 || resyncs < int(length/(5*time.Minute)) {
		t.Errorf("resyncs: %d complete, %d failed in %v", resyncs, failedPulls, length)
	}
	if rssLast > rssWarm*1.25+10 {
		t.Errorf("memory grew: RSS %.1f MB after warm-up, %.1f MB at the end", rssWarm, rssLast)
	}
	if gLast > gWarm+20 {
		t.Errorf("goroutines grew: %.0f after warm-up, %.0f at the end", gWarm, gLast)
	}
}

// followInFake makes the fake Zoom's REST answers say what the mix's
// event about u says, before the event is sent (Zoom's API shows a
// change when its webhook leaves). Calls are not in the REST answers.
func followInFake(t *testing.T, acct *zoomfake.Account, u *mixUser, kind mixKind) {
	var err error
	switch kind {
	case kindPresence:
		err = acct.SetPresence(u.id, u.presence)
	case kindAgent:
		name := ""
		for _, s := range mixAgentStatuses {
			if s[0] == u.agentStatus {
				name = s[1]
			}
		}
		err = acct.SetAgentStatus(u.id, u.agentStatus, name)
	case kindProfile:
		_, err = acct.UpdateUser(u.id, func(fu *zoomfake.User) { fu.Dept = u.dept })
	case kindDeactivate, kindActivate:
		// The status alone: the mix keeps a deactivated user's presence
		// for when it comes back (Account.SetStatus would make it Offline,
		// and a presence re-read meanwhile would then disagree with the
		// events). zoomsync shows an inactive user offline either way.
		status := "active"
		if !u.active {
			status = "inactive"
		}
		var fu zoomfake.User
		fu, err = acct.UpdateUser(u.id, func(fu *zoomfake.User) { fu.Status = status })
		// A reactivated user's presence is read again over REST. For a
		// user the load has not given a presence yet, the mix expects what
		// Zoom will say: the fake's own, where REST has no
		// Mobile_signed_in (it answers Available). A user the load gave
		// one keeps it: the fake says the same, and a REST Available
		// confirms a Mobile_signed_in zoomsync heard of.
		if u.active && err == nil && u.presence == "" {
			u.presence = fu.Presence
			if u.presence == "Mobile_signed_in" {
				u.presence = "Available"
			}
		}
	}
	if err != nil {
		t.Errorf("fake Zoom: %s of %s: %v", kind, u.id, err)
	}
}

// drainPipeline waits until every acknowledged webhook is applied and
// the target has been pushed everything.
func drainPipeline(t *testing.T, rdb redis.UniversalClient, store *zsync.Store, target string) {
	t.Helper()
	ctx := context.Background()
	inbox := zsync.NewInbox(rdb, zsync.InboxOptions{})
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var unapplied int64
		stats, err := inbox.Stats(ctx, acctID)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stats {
			unapplied += s.Lag + s.Pending
		}
		ts, err := store.Outbox().Stats(ctx, acctID, target)
		if err != nil {
			t.Fatal(err)
		}
		if unapplied == 0 && ts.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 minutes %d events are still unapplied and %d users unpushed", unapplied, ts.Pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lastPushReceiver is a verifying webhook target that keeps only each
// user's newest push (a soak sends millions), and counts duplicates and
// pushes that go back in a user's sequence.
type lastPushReceiver struct {
	srv *httptest.Server

	mu             sync.Mutex
	last           map[string]target.WebhookBody
	dups, backward int
	bad            int
}

func newLastPushReceiver(t *testing.T) *lastPushReceiver {
	r := &lastPushReceiver{last: map[string]target.WebhookBody{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := verifiedPush(req)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !ok {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		prev, had := r.last[b.ZoomUserID]
		switch {
		case had && b.Seq < prev.Seq:
			r.backward++
			return
		case had && b.Seq == prev.Seq:
			r.dups++
		}
		r.last[b.ZoomUserID] = b
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *lastPushReceiver) counts() (dups, backward int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dups, r.backward
}

// settle waits up to a minute for every user of mix to end with the
// status its events made, both at the target (its last push, or none
// when the status is what it was before the load) and in zoomsync's
// record, and returns how many do not, with an example.
func (r *lastPushReceiver) settle(t *testing.T, rdb redis.UniversalClient, store *zsync.Store, mix *pipelineMix) (int, string) {
	t.Helper()
	ctx := context.Background()
	check := func() (int, string) {
		refs := make([]zsync.UserRef, len(mix.users))
		for i, u := range mix.users {
			refs[i] = zsync.UserRef{Account: acctID, Key: u.id}
		}
		recs, err := store.Records(ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		n, example := 0, ""
		for i, u := range mix.users {
			want := string(u.effective())
			pushed, had := r.last[u.id]
			believed := string(u.initial)
			if had {
				believed = pushed.Status
			}
			stored := ""
			if recs[i] != nil {
				stored = recs[i].Fields[zsync.FieldStatus]
			}
			if believed != want || stored != want {
				if n++; example == "" {
					example = fmt.Sprintf("%s should be %s: the target's last push %q (seq %d), zoomsync holds %q; %s", u.id, want, believed, pushed.Seq, stored,
						outboxState(rdb, u.id))
				}
			}
		}
		return n, example
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, example := check()
		if n == 0 || time.Now().After(deadline) {
			return n, example
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// redisUsedMB is redis-server's used_memory in MB.
func redisUsedMB(t *testing.T, r *testserver.Redis) float64 {
	info, err := r.Client().Info(context.Background(), "memory").Result()
	if err != nil {
		t.Logf("INFO memory: %v", err)
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n / (1 << 20)
		}
	}
	return 0
}

// rssMB is a process's resident set (VmRSS) in MB.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	return 0
}

// metricInt is one sample of a metrics text (0 when absent).
func metricInt(text, sample string) int {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return 0
}

// metricSum adds every sample of a metric family.
func metricSum(text, name string) int {
	total := 0.0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			total += f
		}
	}
	return int(total)
}
