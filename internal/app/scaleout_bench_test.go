package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// BenchmarkScaleOut: serve (the real binary) against a local 3-master
// Redis Cluster, first one replica, then three, under the same closed-loop
// webhook load spread evenly over the replicas (as a Service would). The
// figure is events per second from the first webhook until every
// acknowledged one is applied, for each, in the same run; and each of the
// three replicas' share of the applies (the inbox consumer groups decide
// who applies what; each partition has a preferred reader, see
// coord.Members). Goal: three replicas keep ≥ 0.9× the single replica's
// throughput on this 2-core machine, each doing 33% ± 10%.
//
// The three replicas run with GOMAXPROCS=1, their share of the machine's
// cores: what Go sets by itself in a container whose CPU limit is that
// share (three replicas sharing two cores get ~0.66 CPU each). Without it
// three Go schedulers each think they own both cores and spin against
// each other; that run is reported too (x-one-unlimited).
func BenchmarkScaleOut(b *testing.B) {
	const users, senders, length = 2000, 48, 8 * time.Second
	bin := buildBinary(b)
	c := testserver.StartCluster(b)
	fake, acct := startFakeB(b, users)
	var active []zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	start := func(n, maxprocs int) (procs []*exec.Cmd, bases []string) {
		for range n {
			env := serveEnv(fake, "", "")
			delete(env, "ZOOMSYNC_REDIS_URL")
			env["ZOOMSYNC_REDIS_ADDRS"] = strings.Join(c.Addrs(), ",")
			env["ZOOMSYNC_PRESENCE_READS_PER_SECOND"] = "0"
			if maxprocs > 0 {
				env["GOMAXPROCS"] = strconv.Itoa(maxprocs)
			}
			p, base := startServeBinary(b, bin, env)
			procs, bases = append(procs, p), append(bases, base)
		}
		return procs, bases
	}
	stop := func(procs []*exec.Cmd) {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	}
	// CPU seconds used by the three Redis masters (INFO cpu) and by the
	// serve processes (/proc/PID/stat): per event, the capacity arithmetic
	// of docs/CAPACITY.md.
	redisCPU := func() float64 {
		var clients []redis.UniversalClient
		for _, n := range c.Nodes {
			clients = append(clients, n.Client())
		}
		return redisCPUSeconds(clients...)
	}
	serveCPU := func(procs []*exec.Cmd) float64 {
		total := 0.0
		for _, p := range procs {
			total += processCPUSeconds(p.Process.Pid)
		}
		return total
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}, Timeout: 10 * time.Second}
	// run loads the replicas at bases and returns events/s (acknowledged
	// events over the time until all were applied) and each replica's
	// applies.
	var serveUS, redisUS []float64 // CPU µs per event, single replica
	run := func(bases []string) (float64, []int) {
		before := make([]int, len(bases))
		for i, base := range bases {
			before[i] = appliedTotal(b, base)
		}
		var acked atomic.Int64
		var next atomic.Int64
		deadline := time.Now().Add(length)
		began := time.Now()
		var wg sync.WaitGroup
		for w := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				base := bases[w%len(bases)]
				for time.Now().Before(deadline) {
					i := int(next.Add(1))
					u := active[i%len(active)]
					ev, err := acct.PresenceEvent(u.ID, presenceCycle[(i/len(active))%len(presenceCycle)])
					if err != nil {
						b.Error(err)
						return
					}
					if postSigned(client, base+"/webhooks/zoom/"+acctID, ev) == http.StatusOK {
						acked.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		loaded := time.Since(began)
		applied := make([]int, len(bases))
		eventually(b, "every acknowledged webhook applied", func() bool {
			total := 0
			for i, base := range bases {
				applied[i] = appliedTotal(b, base) - before[i]
				total += applied[i]
			}
			return total >= int(acked.Load())
		})
		b.Logf("%d replicas: %d acknowledged in %v (%.0f/s), all applied %v later", len(bases), acked.Load(), loaded.Round(time.Millisecond),
			float64(acked.Load())/loaded.Seconds(), (time.Since(began) - loaded).Round(time.Millisecond))
		return float64(acked.Load()) / time.Since(began).Seconds(), applied
	}

	var singles, triples, unlimiteds, minShares, maxShares []float64
	for b.Loop() {
		procs, bases := start(1, 0)
		r0, s0, a0 := redisCPU(), serveCPU(procs), appliedTotal(b, bases[0])
		single, _ := run(bases)
		events := float64(appliedTotal(b, bases[0]) - a0)
		serveUS, redisUS = append(serveUS, 1e6*(serveCPU(procs)-s0)/events), append(redisUS, 1e6*(redisCPU()-r0)/events)
		stop(procs)
		procs, bases = start(3, max(1, runtime.NumCPU()/3))
		triple, applied := run(bases)
		stop(procs)
		procs, bases = start(3, 0)
		unlimited, _ := run(bases)
		stop(procs)
		unlimiteds = append(unlimiteds, unlimited)
		total := 0
		for _, a := range applied {
			total += a
		}
		shares := make([]float64, len(applied))
		for i, a := range applied {
			shares[i] = 100 * float64(a) / float64(total)
		}
		singles, triples = append(singles, single), append(triples, triple)
		minShares, maxShares = append(minShares, slices.Min(shares)), append(maxShares, slices.Max(shares))
		b.Logf("one replica %.0f events/s; three %.0f events/s (%.2f×), applies split %v; three without GOMAXPROCS %.0f events/s (%.2f×)",
			single, triple, triple/single, shares, unlimited, unlimited/single)
	}
	b.ReportMetric(median(singles), "one-ev/s")
	b.ReportMetric(median(triples), "three-ev/s")
	b.ReportMetric(median(triples)/median(singles), "x-one")
	b.ReportMetric(median(unlimiteds)/median(singles), "x-one-unlimited")
	b.ReportMetric(median(minShares), "min-share-%")
	b.ReportMetric(median(maxShares), "max-share-%")
	b.ReportMetric(median(serveUS), "serve-cpu-us/ev")
	b.ReportMetric(median(redisUS), "redis-cpu-us/ev")
	b.ReportMetric(0, "ns/op")
}

// postSigned delivers ev as Zoom would, over client's kept-alive
// connections, and returns the status (0 on a transport error).
func postSigned(client *http.Client, url string, ev zoomfake.Event) int {
	ts := time.Now().Unix()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(string(ev.Body)))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("x-zm-request-timestamp", fmt.Sprint(ts))
	req.Header.Set("x-zm-signature", zoomfake.Sign(whSecret, ts, ev.Body))
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// appliedTotal is serve's zoomsync_inbox_entries_applied_total, summed.
func appliedTotal(tb testing.TB, base string) int {
	return metricSum(metricsText(tb, base), "zoomsync_inbox_entries_applied_total")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
