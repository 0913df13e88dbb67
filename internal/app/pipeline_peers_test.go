package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/presence/target"
)

// The processes BenchmarkPipeline runs beside zoomsync, each on loopback
// and each its own process, so that the CPU each uses is its own
// (/proc/PID/stat): the bare net/http + HMAC receiver, the verifying push
// target, zoomsync's serve under a CPU profile (ZOOMSYNC_BENCH_PIPELINE_
// PROFILE), and @zoom/rivet's receiver on Node. The Go ones are this test
// binary started again (the os/exec helper-process pattern, TestPipelinePeer).

// pipelinePeerEnv names the role of a helper process.
const pipelinePeerEnv = "ZOOMSYNC_PIPELINE_PEER"

// pipelineTargetSecret signs the pushes to the benchmark's target.
const pipelineTargetSecret = "pipeline-target-secret-0123456789"

// TestPipelinePeer is not a test of its own: it is the helper process of
// BenchmarkPipeline, skipped unless ZOOMSYNC_PIPELINE_PEER names a role. It
// prints "listening ADDR" and serves until its standard input closes.
func TestPipelinePeer(t *testing.T) {
	role := os.Getenv(pipelinePeerEnv)
	if role == "" {
		t.Skip("the helper process of BenchmarkPipeline")
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	switch role {
	case "bare":
		servePeer(ctx, t, bareHandler())
	case "target":
		servePeer(ctx, t, &arrivalRecorder{})
	case "serve":
		profiledServe(ctx, t)
	default:
		t.Fatalf("unknown role %q", role)
	}
}

func servePeer(ctx context.Context, t *testing.T, h http.Handler) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	fmt.Printf("listening %s\n", l.Addr())
	<-ctx.Done()
	_ = srv.Close()
}

// profiledServe runs serve (configured from the environment, as the
// binary is) and writes a CPU profile to ZOOMSYNC_BENCH_PIPELINE_PROFILE
// between SIGUSR1 and SIGUSR2.
func profiledServe(ctx context.Context, t *testing.T) {
	cfg, err := config.Load(ctx, envconfig.OsLookuper())
	if err != nil {
		t.Fatal(err)
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		var f *os.File
		for s := range sig {
			switch {
			case s == syscall.SIGUSR1 && f == nil:
				if f, err = os.Create(os.Getenv("ZOOMSYNC_BENCH_PIPELINE_PROFILE")); err == nil {
					_ = pprof.StartCPUProfile(f)
				}
			case s == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				_ = f.Close()
				f = nil
			}
		}
	}()
	if err := Serve(ctx, cfg, Options{Listening: func(a string) { fmt.Printf("listening %s\n", a) }}); err != nil {
		t.Fatal(err)
	}
}

// arrivalRecorder is the push target: it verifies every push as a
// receiver should (target.Verify over the raw body, one minute of clock
// tolerance), decodes it, and records when it arrived. GET /arrivals
// hands over (and forgets) what arrived since the last call: "bad N",
// then one line per push: user, since (Unix ms), seq, status, whether it
// carried directory data, arrival (Unix ns).
type arrivalRecorder struct {
	mu    sync.Mutex
	lines []byte
	bad   int
}

func (a *arrivalRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/arrivals" {
		a.mu.Lock()
		lines, bad := a.lines, a.bad
		a.lines, a.bad = nil, 0
		a.mu.Unlock()
		fmt.Fprintf(w, "bad %d\n", bad)
		_, _ = w.Write(lines)
		return
	}
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	var push target.WebhookBody
	if err != nil || target.Verify(pipelineTargetSecret, r.Header, body, now, time.Minute) != nil || json.Unmarshal(body, &push) != nil {
		a.mu.Lock()
		a.bad++
		a.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	a.lines = fmt.Appendf(a.lines, "%s %d %d %s %t %d\n", push.ZoomUserID, push.Since.UnixMilli(), push.Seq, push.Status,
		push.Directory != nil, now.UnixNano())
	a.mu.Unlock()
}

// arrival is one push the target accepted.
type arrival struct {
	user, status string
	since, seq   int64
	directory    bool
	at           int64 // Unix ns
}

// takeArrivals collects what the target at addr accepted since the last
// call, and how many pushes it refused.
func takeArrivals(tb testing.TB, addr string) ([]arrival, int) {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/arrivals")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var out []arrival
	bad := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "bad" {
			bad, _ = strconv.Atoi(f[1])
			continue
		}
		if len(f) != 6 {
			tb.Fatalf("target answered %q", sc.Text())
		}
		a := arrival{user: f[0], status: f[3], directory: f[4] == "true"}
		a.since, _ = strconv.ParseInt(f[1], 10, 64)
		a.seq, _ = strconv.ParseInt(f[2], 10, 64)
		a.at, _ = strconv.ParseInt(f[5], 10, 64)
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out, bad
}

// peer is a running helper process.
type peer struct {
	cmd   *exec.Cmd
	addr  string
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer // what it printed after its address
	done  chan struct{}
}

// startPeer starts this test binary as the helper process of role with
// extra environment, and waits for its address.
func startPeer(tb testing.TB, role string, env map[string]string) *peer {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPipelinePeer$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), pipelinePeerEnv+"="+role)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return runPeer(tb, role, cmd)
}

// runPeer starts cmd, which prints "listening ADDR" once it serves, and
// stops it (closing its standard input, then SIGKILL) when tb ends.
func runPeer(tb testing.TB, name string, cmd *exec.Cmd) *peer {
	tb.Helper()
	p := &peer{cmd: cmd, done: make(chan struct{})}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	tb.Cleanup(func() { p.stop() })
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok && p.addr == "" {
				addr <- a
				continue
			}
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	select {
	case p.addr = <-addr:
	case <-p.done:
		tb.Fatalf("%s exited before listening:\n%s%s", name, p.output(), stderr.String())
	case <-time.After(2 * time.Minute):
		tb.Fatalf("%s not listening within 2 minutes:\n%s", name, stderr.String())
	}
	return p
}

// stop closes the peer's standard input (it exits) and returns what it
// printed; SIGKILL after 10 s.
func (p *peer) stop() string {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.cmd.Wait()
	return p.output()
}

func (p *peer) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// cpuSeconds is the CPU the peer has used so far.
func (p *peer) cpuSeconds() float64 { return processCPUSeconds(p.cmd.Process.Pid) }

// rivetVersion is the @zoom/rivet release the reference runs.
const rivetVersion = "0.4.0"

// startRivet runs @zoom/rivet's HttpReceiver on Node, loopback only
// (testdata/rivet-receiver.mjs), installing the package with npm into
// the user's cache directory the first time. Without node or npm, or when
// the install fails, it returns nil and why.
func startRivet(tb testing.TB) (*peer, string) {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, "node is not installed"
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, "npm is not installed"
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, "no cache directory: " + err.Error()
	}
	dir := filepath.Join(cache, "zoomsync-bench", "rivet-"+rivetVersion)
	var installed struct {
		Version string `json:"version"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@zoom", "rivet", "package.json")); err != nil || json.Unmarshal(b, &installed) != nil ||
		installed.Version != rivetVersion {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err.Error()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "--loglevel=error",
			"@zoom/rivet@"+rivetVersion).CombinedOutput()
		if err != nil {
			return nil, fmt.Sprintf("npm install @zoom/rivet@%s failed: %v: %s", rivetVersion, err, bytes.TrimSpace(out))
		}
		tb.Logf("installed @zoom/rivet@%s into %s in %v", rivetVersion, dir, time.Since(start).Round(time.Second))
	}
	script, err := os.ReadFile(filepath.Join("testdata", "rivet-receiver.mjs"))
	if err != nil {
		tb.Fatal(err)
	}
	// Beside node_modules, so that the import resolves there.
	if err := os.WriteFile(filepath.Join(dir, "receiver.mjs"), script, 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "receiver.mjs"))
	cmd.Env = append(os.Environ(), "RIVET_ACCOUNT_ID="+acctID, "RIVET_WEBHOOK_SECRET="+whSecret, "RIVET_EVENTS="+strings.Join(mixEventNames, ","))
	return runPeer(tb, "rivet", cmd), ""
}
