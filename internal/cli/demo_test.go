package cli

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sethvargo/go-envconfig"
)

// watchedBuffer is a stdout the test reads while the demo writes it.
type watchedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.written <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// runDemoUntil runs the demo with args until its output holds every one
// of until (waiting on the output, guarded against a hang, not timed),
// then stops it as Ctrl-C would and returns its exit code and output.
func runDemoUntil(t *testing.T, args []string, until ...string) (int, string, string) {
	t.Helper()
	return runDemoUntilThen(t, args, nil, nil, until...)
}

// runDemoUntilThen is runDemoUntil that also waits for more(stdout), if
// set, and calls then(stdout) while the demo still runs.
func runDemoUntilThen(t *testing.T, args []string, more func(string) bool, then func(string), until ...string) (int, string, string) {
	t.Helper()
	out := &watchedBuffer{written: make(chan struct{}, 1)}
	var errb lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"demo"}, args...), IO{Stdout: out, Stderr: &errb, Env: envconfig.MapLookuper(nil)})
	}()
	guard := time.After(3 * time.Minute)
	for !containsAll(out.String(), until) || (more != nil && !more(out.String())) {
		select {
		case <-out.written:
		case code := <-done:
			return code, out.String(), errb.String()
		case <-guard:
			t.Fatalf("the demo did not print %q within 3 minutes:\n%s", until, out)
		}
	}
	if then != nil {
		then(out.String())
	}
	cancel()
	code := <-done
	return code, out.String(), errb.String()
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// lockedBuffer is a stderr that serve's logger and Main may both write.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestDemoIsQuietAndItsCurlLinesWork: by default the demo prints a short
// banner (board, token, curl lines) and then one status line every few
// seconds, no line but the curl lines wider than 80 columns, no
// per-event lines; and the curl lines, run by a shell as printed while
// the demo runs, answer 200. Before, 60 s of demo printed ~675 lines,
// 668 of them wider than 80 columns, and the curl lines scrolled away.
func TestDemoIsQuietAndItsCurlLinesWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("SKIPPED: curl is not installed, so the printed curl lines were not run")
	}
	out := &watchedBuffer{written: make(chan struct{}, 1)}
	var errb lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--users", "60", "--rate", "10"},
			IO{Stdout: out, Stderr: &errb, Env: envconfig.MapLookuper(nil)})
	}()
	// Wait (guarded, not timed) for the banner and two status lines.
	guard := time.After(3 * time.Minute)
	for strings.Count(out.String(), " webhooks ") < 2 {
		select {
		case <-out.written:
		case code := <-done:
			t.Fatalf("the demo ended (exit %d) before two status lines:\n%s\n%s", code, out, &errb)
		case <-guard:
			t.Fatalf("no two status lines:\n%s", out)
		}
	}
	stdout := out.String()
	var export string
	var curls []string
	for _, line := range strings.Split(stdout, "\n") {
		switch l := strings.TrimSpace(line); {
		case strings.HasPrefix(l, "export TOKEN="):
			export = l
		case strings.HasPrefix(l, "curl "):
			curls = append(curls, l)
		default:
			if n := utf8.RuneCountInString(line); n > 80 {
				t.Errorf("a %d-column line: %q", n, line)
			}
		}
	}
	if export == "" || len(curls) < 2 {
		t.Fatalf("no token export or curl lines:\n%s", stdout)
	}
	for _, c := range curls {
		got, err := exec.Command("sh", "-c", export+"; "+strings.Replace(c, "curl ", "curl -o /dev/null -w '%{http_code}' ", 1)).Output()
		if err != nil || string(got) != "200" {
			t.Errorf("%s: %q %v", c, got, err)
		}
	}
	for _, chatty := range []string{"user.presence_status_updated", "⇠ pushed", `{"account_id"`} {
		if strings.Contains(stdout, chatty) {
			t.Errorf("the quiet demo printed %q:\n%s", chatty, stdout)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d\n%s", code, &errb)
	}
	if !strings.Contains(out.String(), "demo stopped:") {
		t.Errorf("no closing line:\n%s", out)
	}
	t.Logf("quiet demo output:\n%s", out)
}

// TestStatusLineFitsATerminal: the status line stays within 80 columns
// at the demo's sizes.
func TestStatusLineFitsATerminal(t *testing.T) {
	at := time.Date(2026, 12, 3, 15, 4, 5, 0, time.UTC)
	for _, c := range []demoCounts{
		{webhooks: 4, pushes: 3, groups: []int{98, 40, 80, 60}},
		{webhooks: 200, pushes: 150, groups: []int{999, 999, 999, 999}},
	} {
		if l := statusLine(at, c); utf8.RuneCountInString(l) > 80 || !strings.HasPrefix(l, "15:04:05 webhooks ") {
			t.Errorf("%d columns: %q", utf8.RuneCountInString(l), l)
		}
	}
}
