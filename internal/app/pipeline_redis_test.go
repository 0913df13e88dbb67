package app

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// What BenchmarkPipeline reads from redis-server and the machine: the
// commands Redis ran (INFO commandstats counts commands that scripts run
// as well as those clients send), which of them clients sent (MONITOR,
// on a short sample: it slows Redis down), memory (INFO memory), and the
// machine's busy CPU (/proc/stat).

// cmdStat is one command's count and time (INFO commandstats).
type cmdStat struct{ calls, usec float64 }

// commandStats reads INFO commandstats: command → calls and µs spent.
func commandStats(tb testing.TB, rdb redis.UniversalClient) map[string]cmdStat {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]cmdStat{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		var st cmdStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				st.calls = f
			case "usec":
				st.usec = f
			}
		}
		out[name] = st
	}
	return out
}

// commandsSince is what ran between two commandStats readings, busiest
// first, leaving out the benchmark's own readings (info).
func commandsSince(before, after map[string]cmdStat) []namedStat {
	var out []namedStat
	for name, a := range after {
		b := before[name]
		if d := (cmdStat{a.calls - b.calls, a.usec - b.usec}); d.calls > 0 && name != "info" {
			out = append(out, namedStat{name, d})
		}
	}
	slices.SortFunc(out, func(x, y namedStat) int { return cmp.Compare(y.calls, x.calls) })
	return out
}

type namedStat struct {
	name string
	cmdStat
}

func totalCalls(stats []namedStat) float64 {
	t := 0.0
	for _, s := range stats {
		t += s.calls
	}
	return t
}

// describeCommands is the per-event table of stats: calls and µs per
// event, by command.
func describeCommands(stats []namedStat, events int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %10s %10s\n", "command", "calls/ev", "µs/ev")
	for _, s := range stats {
		fmt.Fprintf(&b, "%-22s %10.3f %10.2f\n", s.name, s.calls/float64(events), s.usec/float64(events))
	}
	fmt.Fprintf(&b, "%-22s %10.3f\n", "total", totalCalls(stats)/float64(events))
	return b.String()
}

// monitorCounts are the commands MONITOR saw, by who ran them.
type monitorCounts struct {
	client, script map[string]int
}

// monitorRedis watches every command the server at addr runs until stop
// is called: those clients sent, and those scripts ran ("[0 lua]").
func monitorRedis(tb testing.TB, addr string) (stop func() monitorCounts) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		tb.Fatal(err)
	}
	r := bufio.NewReaderSize(conn, 1<<16)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		tb.Fatalf("MONITOR: %q %v", line, err)
	}
	counts := monitorCounts{client: map[string]int{}, script: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			// +1700000000.123456 [0 127.0.0.1:5555] "XADD" "key" …
			open, end := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
			if open < 0 || end < open {
				continue
			}
			src := strings.Fields(line[open+1 : end])
			rest := line[end+1:]
			q := strings.IndexByte(rest, '"')
			if len(src) != 2 || q < 0 {
				continue
			}
			name, _, _ := strings.Cut(rest[q+1:], `"`)
			name = strings.ToLower(name)
			if src[1] == "lua" {
				counts.script[name]++
			} else {
				counts.client[name]++
			}
		}
	}()
	return func() monitorCounts {
		conn.Close()
		<-done
		return counts
	}
}

// describeMonitor is MONITOR's sample per event, by command and by who
// ran it.
func describeMonitor(m monitorCounts, events int) string {
	names := map[string]bool{}
	for n := range m.client {
		names[n] = true
	}
	for n := range m.script {
		names[n] = true
	}
	sorted := slices.Collect(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	slices.SortFunc(sorted, func(a, b string) int { return cmp.Compare(m.client[b]+m.script[b], m.client[a]+m.script[a]) })
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %12s %12s\n", "command", "client/ev", "script/ev")
	tc, ts := 0, 0
	for _, n := range sorted {
		fmt.Fprintf(&b, "%-22s %12.3f %12.3f\n", n, float64(m.client[n])/float64(events), float64(m.script[n])/float64(events))
		tc, ts = tc+m.client[n], ts+m.script[n]
	}
	fmt.Fprintf(&b, "%-22s %12.3f %12.3f\n", "total", float64(tc)/float64(events), float64(ts)/float64(events))
	return b.String()
}

func (m monitorCounts) clientTotal() int {
	t := 0
	for _, n := range m.client {
		t += n
	}
	return t
}

// usedMemory is redis-server's used_memory (INFO memory), in bytes.
func usedMemory(tb testing.TB, rdb redis.UniversalClient) float64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	tb.Fatal("INFO memory has no used_memory")
	return 0
}

// machineBusySeconds is the CPU time all the machine's cores have spent
// on anything but idling (/proc/stat), in seconds.
func machineBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	busy := 0.0
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100 // USER_HZ
}

// selfCPUSeconds is the CPU this test process has used: the load
// generator (and the fake Zoom, idle while the load runs).
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// cpuMeter reads, at the start and end of a measurement, the CPU seconds
// of each process of interest and of the whole machine.
type cpuMeter struct {
	read  map[string]func() float64
	start map[string]float64
	at    time.Time
}

func newCPUMeter(read map[string]func() float64) *cpuMeter {
	m := &cpuMeter{read: read, start: map[string]float64{}, at: time.Now()}
	for k, f := range read {
		m.start[k] = f()
	}
	return m
}

// used is what each used since newCPUMeter, in seconds.
func (m *cpuMeter) used() map[string]float64 {
	out := map[string]float64{}
	for k, f := range m.read {
		out[k] = f() - m.start[k]
	}
	return out
}
