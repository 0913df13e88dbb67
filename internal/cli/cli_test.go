package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/internal/app"
)

func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, IO{Stdout: &out, Stderr: &errb, Env: envconfig.MapLookuper(env)})
	return code, out.String(), errb.String()
}

// oneAccount configures account A against a Redis nothing listens on
// (the configuration errors come before any call).
var oneAccount = map[string]string{"ZOOMSYNC_REDIS_URL": "redis://127.0.0.1:1", "ZOOM_ACCOUNT_ID": "A", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s"}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdout     string
		stderr     string
		notInUsage bool
	}{
		{name: "no command prints usage to stderr", code: 2, stderr: "Commands:"},
		{name: "help", args: []string{"--help"}, code: 0, stdout: "zoomsync <command> [flags]"},
		{name: "help lists every command", args: []string{"help"}, code: 0, stdout: "purge"},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: "resync"},
		{name: "version", args: []string{"version"}, code: 0, stdout: "zoomsync "},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "unknown flag", args: []string{"resync", "--everything"}, code: 2, stderr: "flag provided but not defined: -everything"},
		{name: "stray argument", args: []string{"serve", "now"}, code: 2, stderr: `unexpected argument "now"`},
		{name: "command help", args: []string{"resync", "--help"}, code: 0, stdout: "-dry-run"},
		{name: "purge needs account", args: []string{"purge"}, code: 2, stderr: "--account is required"},
		{name: "bad config names the variable", args: []string{"serve"}, env: map[string]string{"ZOOMSYNC_MAX_DELETE_FRACTION": "2"},
			code: 2, stderr: "ZOOMSYNC_MAX_DELETE_FRACTION: must be a number between 0 and 1"},
		{name: "bad config even for demo", args: []string{"demo"}, env: map[string]string{"ZOOMSYNC_LOG_FORMAT": "xml"},
			code: 2, stderr: "ZOOMSYNC_LOG_FORMAT"},
		{name: "serve needs an account", args: []string{"serve"}, code: 2, stderr: "no Zoom account configured"},
		{name: "resync refuses an embedded Redis", args: []string{"resync", "--account", "A", "--dry-run"}, code: 2, stderr: "resync: needs ZOOMSYNC_REDIS_URL"},
		{name: "resync needs an account", args: []string{"resync"}, env: map[string]string{"ZOOMSYNC_REDIS_URL": "redis://127.0.0.1:1"},
			code: 2, stderr: "resync: no Zoom account configured"},
		{name: "resync of an account not configured", args: []string{"resync", "--account", "nosuch"}, env: oneAccount,
			code: 2, stderr: `resync: account "nosuch" is not configured (configured: A)`},
		{name: "map refuses an embedded Redis", args: []string{"map"}, code: 2, stderr: "map: needs ZOOMSYNC_REDIS_URL"},
		{name: "map needs a directory", args: []string{"map"}, env: oneAccount, code: 2, stderr: "map: no directory configured"},
		{name: "purge refuses an embedded Redis", args: []string{"purge", "--account", "A", "--yes"}, code: 2, stderr: "purge: needs ZOOMSYNC_REDIS_URL"},
		{name: "purge asks, or needs --yes", args: []string{"purge", "--account", "A"}, code: 2, stderr: "not on a terminal, so nothing can be confirmed: add --yes"},
		{name: "purge help", args: []string{"purge", "--help"}, code: 0, stdout: "-dry-run"},
		{name: "demo rejects bad flags", args: []string{"demo", "--users", "0"}, code: 2, stderr: "--users must be"},
		{name: "demo rejects an unknown intake", args: []string{"demo", "--intake", "carrier-pigeon"}, code: 2, stderr: "--intake must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
		})
	}
}

// TestDemoRunsThePipeline: the demo serves, pulls both accounts, maps
// them to the directory, answers its own curl line with a real presence,
// and zoomsync acknowledges every simulated webhook (--verbose prints
// each).
//
// While it runs, its /metrics is read once 20 webhooks were acknowledged:
// no label carries a Redis key, and the inbox lag is what is really
// waiting (the embedded Redis reported every entry as lag).
func TestDemoRunsThePipeline(t *testing.T) {
	var metrics string
	code, stdout, stderr := runDemoUntilThen(t, []string{"--verbose", "--addr", "127.0.0.1:0", "--users", "60", "--rate", "10"},
		func(out string) bool { return strings.Count(out, "→ 200\n") >= 20 },
		func(out string) {
			_, rest, ok := strings.Cut(out, "zoomsync serving at ")
			base, _, _ := strings.Cut(rest, ";")
			if !ok || base == "" {
				t.Errorf("no serving address in the demo's output:\n%s", out)
				return
			}
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				t.Errorf("/metrics: %v", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			metrics = string(b)
		},
		"user.presence_status_updated", "→ 200\n", "demo-pbx   ⇠ pushed")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if metrics == "" {
		t.Fatalf("no /metrics read during the demo:\n%s", stdout)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	sum := func(name string) (total float64) {
		for _, m := range families[name].GetMetric() {
			total += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return total
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "zs:") || strings.Contains(l.GetValue(), "{a:") {
					t.Errorf("%s{%s=%q}: a Redis key as a label", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	// The webhooks went through the listeners' HTTP metrics.
	var acked uint64
	for _, m := range families["zoomsync_webhook_ack_duration_seconds"].GetMetric() {
		acked += m.GetHistogram().GetSampleCount()
	}
	if acked < 10 {
		t.Errorf("zoomsync_webhook_ack_duration_seconds counted %d webhooks, want the 20 acknowledged before the read", acked)
	}
	if len(families["zoomsync_build_info"].GetMetric()) != 1 {
		t.Error("no zoomsync_build_info")
	}
	// Every series serve exports was declared through the catalogue that
	// the chart's alerts and the dashboard are checked against.
	declared := map[string]bool{}
	for _, mi := range app.MetricCatalog() {
		declared[mi.Name] = true
	}
	for name := range families {
		if strings.HasPrefix(name, "zoomsync_") && !declared[name] {
			t.Errorf("%s is exported but not in app.MetricCatalog", name)
		}
	}
	if applied, lag := sum("zoomsync_inbox_entries_applied_total"), sum("zoomsync_inbox_lag_entries"); applied < 10 || lag > 3 {
		t.Errorf("%v entries applied, inbox lag %v: want the lag to be the few entries in flight at most", applied, lag)
	}
	for _, want := range []string{
		"zoomsync serving at http://127.0.0.1:",
		"ready: 120 Zoom users pulled; directory links: matched 116, unmatched\n       Zoom users 3, unmatched directory people 5, conflicts 1",
		"board:  http://127.0.0.1:", "token:  ", "export TOKEN=", `curl -sH "Authorization: Bearer $TOKEN" http://127.0.0.1:`,
		`→ 200 {"account_id":"demo-emea"`, `"directory":{"dn":"uid=u0000002,ou=people,dc=example,dc=com"`,
		"user.presence_status_updated", "→ 200\n", "demo-pbx   ⇠ pushed", "demo stopped:", " 0 refused.",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestBinary builds the real binary and checks exit codes end to end.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "zoomsync")
	// Built as from a checkout (the version set at link time, the commit
	// and its time recorded by the toolchain): `version` names the commit.
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "-ldflags", "-X github.com/zoomsync/zoomsync/internal/buildinfo.version=v0.0.0-test", "../../cmd/zoomsync")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	wantVersion, wantTime := "zoomsync v0.0.0-test (commit ", "zoomsync v0.0.0-test"
	// The Go toolchain reads the commit only where .git is a directory
	// (not in a `git worktree`, whose .git is a file).
	if fi, err := os.Stat("../../.git"); err == nil && fi.IsDir() {
		head, err := exec.Command("git", "log", "-1", "--format=%H %cI").Output()
		if err != nil {
			t.Fatalf("git log: %v", err)
		}
		rev, when, _ := strings.Cut(strings.TrimSpace(string(head)), " ")
		committed, err := time.Parse(time.RFC3339, when)
		if err != nil {
			t.Fatal(err)
		}
		wantVersion, wantTime = wantVersion+rev[:12], committed.UTC().Format(time.RFC3339)
	} else {
		t.Log("not a git checkout with a .git directory: the commit is not checked")
	}
	for _, tt := range []struct {
		args []string
		env  []string
		code int
		out  string
	}{
		{[]string{"version"}, nil, 0, wantVersion},
		{[]string{"version"}, nil, 0, wantTime},
		{[]string{"nope"}, nil, 2, "unknown command"},
		{[]string{"serve"}, []string{"LDAP_PAGE_SIZE=-1"}, 2, "LDAP_PAGE_SIZE"},
		{[]string{"resync"}, nil, 2, "needs ZOOMSYNC_REDIS_URL"},
	} {
		cmd := exec.Command(bin, tt.args...)
		cmd.Env = append(os.Environ(), tt.env...)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if code != tt.code || !strings.Contains(string(out), tt.out) {
			t.Errorf("%v: exit %d (want %d): %s", tt.args, code, tt.code, out)
		}
	}
}

func TestBatchGCPercent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gogcSet bool
		limit   int64
		want    int
	}{
		{"memory limit, no GOGC", false, 170 << 20, 400},
		{"no memory limit", false, math.MaxInt64, 0},
		{"the operator's GOGC stands", true, 170 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := batchGCPercent(tc.gogcSet, tc.limit); got != tc.want {
				t.Fatalf("batchGCPercent(%v, %d) = %d, want %d", tc.gogcSet, tc.limit, got, tc.want)
			}
		})
	}
}

// TestDemoOverWebSocket: with --intake websocket the simulated Zoom
// delivers over WebSocket subscriptions that zoomsync connects to, and
// the pushes follow as with webhooks.
func TestDemoOverWebSocket(t *testing.T) {
	code, stdout, stderr := runDemoUntil(t, []string{"--verbose", "--intake", "websocket", "--addr", "127.0.0.1:0", "--users", "60", "--rate", "10"},
		"user.presence_status_updated", "→ 200\n", "demo-pbx   ⇠ pushed")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"simulated WebSocket event subscriptions: ws://127.0.0.1:", "user.presence_status_updated", "→ 200\n",
		"demo-pbx   ⇠ pushed", "events sent over the WebSocket, 0 lost",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}
