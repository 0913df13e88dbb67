package app

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/testserver"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// TestSoak runs serve (the real binary) for ZOOMSYNC_SOAK (e.g. 30m; task
// soak) at 2,000 signed webhooks per second against redis-server with
// AOF, a full resync every 5 minutes (the in-process schedule) and a
// presence target, sampling the process every 30 s. It fails if an
// acknowledged webhook is lost, a resync fails or deletes anyone, or
// memory or goroutines grow after the warm-up; its "soak:" lines become
// the table in docs/BENCHMARKS.md.
func TestSoak(t *testing.T) {
	length, _ := time.ParseDuration(os.Getenv("ZOOMSYNC_SOAK"))
	if length <= 0 {
		t.Skip("set ZOOMSYNC_SOAK=30m (task soak)")
	}
	const rate, users, every = 2000, 10_000, 30 * time.Second
	bin := buildBinary(t)
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, users)
	active := activeUsers(t, acct, 8000)
	rcv := newPushReceiver(t)
	env := serveEnv(fake, r.URL(), "")
	env["ZOOMSYNC_TARGETS_FILE"] = writeTargets(t, rcv)
	env["ZOOMSYNC_RESYNC_SCHEDULE"] = "*/5 * * * *"
	env["ZOOMSYNC_API_TOKENS"] = apiToken
	proc, base := startServeBinary(t, bin, env)
	store := zsync.NewStore(r.Client(), zsync.DefaultPartitions, 168*time.Hour)

	// Paced load: a token every 1/rate s, taken by 32 senders.
	load := &webhookLoad{acct: acct, users: active, bases: []string{base}, perBase: make([]int, 1), stopc: make(chan struct{})}
	tokens := make(chan int, rate)
	var sent atomic.Int64
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		begin := time.Now()
		for {
			select {
			case <-load.stopc:
				close(tokens)
				return
			case now := <-tick.C:
				due := int64(now.Sub(begin).Seconds() * rate)
				for ; sent.Load() < due; sent.Add(1) {
					select {
					case tokens <- int(sent.Load()):
					default: // senders are behind: the arrival is lost to the load, counted below
					}
				}
			}
		}
	}()
	for range 32 {
		load.wg.Add(1)
		go func() {
			defer load.wg.Done()
			for i := range tokens {
				if !load.send(t, i) {
					return
				}
			}
		}()
	}

	type sample struct {
		at                 time.Duration
		rssMB              float64
		goroutines, acked  int
		resyncs, lag, pend int
		heapMB, redisMB    float64
		failures           int
	}
	var samples []sample
	began := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Since(began) < length {
		<-tick.C
		m := metricsText(t, base)
		s := sample{at: time.Since(began).Round(time.Second), rssMB: rssMB(proc.Process.Pid), goroutines: metricInt(m, "go_goroutines"),
			acked: load.acknowledged(), resyncs: metricInt(m, `zoomsync_full_pulls_total{account="`+acctID+`",result="complete"}`),
			lag: metricSum(m, "zoomsync_inbox_lag_entries"), pend: metricSum(m, "zoomsync_inbox_pending_entries"),
			heapMB: float64(metricInt(m, "go_memstats_heap_inuse_bytes")) / (1 << 20), redisMB: redisUsedMB(t, r)}
		load.mu.Lock()
		s.failures = load.failures
		load.mu.Unlock()
		samples = append(samples, s)
		t.Logf("soak-sample: %v | %.1f | %.1f | %d | %d | %d | %d | %d | %.0f", s.at, s.rssMB, s.heapMB, s.goroutines, s.acked, s.failures, s.resyncs, s.lag, s.redisMB)
	}
	acknowledged, _ := load.settle(t, store) // stops the load first
	rcv.delivered(t, r.Client(), store, active)
	dups, _ := rcv.duplicates(t)

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
	perSecond := float64(acknowledged) / length.Seconds()
	t.Logf("soak: %v | %.0f | %d | %d | %d | %d | %d | %.1f → %.1f | %.0f → %.0f", length, perSecond, acknowledged,
		samples[len(samples)-1].failures, dups, resyncs, failedPulls, rssWarm, rssLast, gWarm, gLast)
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
