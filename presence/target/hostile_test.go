package target_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/zoomsync/zoomsync/presence/target"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hooks.example.com/presence", "https://hooks.example.com/presence"},
		{"https://user:pass@hooks.example.com/hook?key=k1&x=2", "https://redacted@hooks.example.com/hook?redacted"},
		{"https://apikey@hooks.example.com/hook", "https://redacted@hooks.example.com/hook"},
		{"http://127.0.0.1:8080/a%20b?token", "http://127.0.0.1:8080/a%20b?redacted"},
		{"https://h/p#frag", "https://h/p#redacted"},
		{"https://h/p?", "https://h/p?redacted"},
		{"https://us er:p@ss@h/", "[unparseable URL]"},
		{"mailto:someone@example.com", "[unparseable URL]"},
		{"", ""},
	} {
		if got := target.RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Secret parts of the target URLs below: none may appear anywhere.
const (
	urlUser  = "hook-user-7f3a"
	urlPass  = "hook-pass-91c2"
	urlQuery = "query-key-5d8e"
)

func secretURL(base string) string {
	return strings.Replace(base, "://", "://"+urlUser+":"+urlPass+"@", 1) + "/hook?key=" + urlQuery
}

func assertNoURLSecrets(t *testing.T, where, s string) {
	t.Helper()
	for _, leak := range []string{urlUser, urlPass, urlQuery, receiverSecret} {
		if strings.Contains(s, leak) {
			t.Fatalf("%s leaks %q: %s", where, leak, s)
		}
	}
}

// TestWebhookPushErrorsRedactTheURL: every error a push returns names the
// target's URL without its user info or query: refused connections
// (net/http's *url.Error quotes the URL with its user and query), error
// statuses and 429s.
func TestWebhookPushErrorsRedactTheURL(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	cases := []struct {
		name   string
		base   string
		status int
		kind   errs.Kind
	}{
		{"connection refused", closedURL, 0, errs.Transient},
		{"500", srv.URL, 500, errs.Transient},
		{"429", srv.URL, 429, errs.RateLimited},
		{"404", srv.URL, 404, errs.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(int32(tc.status))
			c := webhookConfig("pbx", secretURL(tc.base))
			err := mustBuild(t, c, target.Deps{}).Push(context.Background(), target.Push{AccountID: "A", ZoomUserID: "u1", Status: "available"})
			if err == nil || errs.KindOf(err) != tc.kind {
				t.Fatalf("err %v (kind %v), want kind %v", err, errs.KindOf(err), tc.kind)
			}
			assertNoURLSecrets(t, "the error", err.Error())
			if !strings.Contains(err.Error(), "redacted@") {
				t.Fatalf("the error does not name the (redacted) URL: %v", err)
			}
		})
	}
}

// TestWebhookPushDoesNotFollowRedirects: a target answering 307 (or any
// 3xx) does not get the signed body re-POSTed to the Location; the push
// fails as Permanent with a reason naming the redirect.
func TestWebhookPushDoesNotFollowRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", other.URL+"/steal?token="+urlQuery)
				w.WriteHeader(code)
			}))
			defer srv.Close()
			for _, client := range []*http.Client{nil, {Timeout: 5 * time.Second}} { // its own client, and one given
				err := mustBuild(t, webhookConfig("pbx", secretURL(srv.URL)), target.Deps{HTTP: client}).Push(context.Background(), target.Push{Status: "available"})
				if err == nil || errs.KindOf(err) != errs.Permanent || !strings.Contains(err.Error(), "redirect") {
					t.Fatalf("err %v (kind %v), want a Permanent redirect error", err, errs.KindOf(err))
				}
				assertNoURLSecrets(t, "the redirect error", err.Error())
			}
			if n := elsewhere.Load(); n != 0 {
				t.Fatalf("the redirect was followed: %d requests elsewhere", n)
			}
		})
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDeadLettersAndLogsRedactTheURL: a target that keeps failing is
// dead-lettered; neither the dead letter's reason nor any log line has
// the URL's user info or query.
func TestDeadLettersAndLogsRedactTheURL(t *testing.T) {
	rcv := newReceiver(t)
	rcv.down.Store(503)
	c := webhookConfig("pbx", secretURL(rcv.srv.URL))
	c.DeadAfter.Duration = time.Millisecond
	logs := &lockedBuffer{}
	r := newRigWith(t, target.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, c)
	r.set(t, "A", "u1", "in_meeting")
	var reasons []string
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(20 * time.Second)
	for len(reasons) == 0 {
		for _, k := range r.rdb.Keys(context.Background(), "*:outdead:pbx").Val() {
			for _, m := range r.rdb.XRange(context.Background(), k, "-", "+").Val() {
				reasons = append(reasons, fmt.Sprint(m.Values["reason"]))
			}
		}
		select {
		case <-tk.C:
		case <-deadline:
			t.Fatalf("no dead letter within 20s; logs:\n%s", logs)
		}
	}
	if !strings.Contains(reasons[0], "503") {
		t.Fatalf("dead letter reason %q", reasons[0])
	}
	assertNoURLSecrets(t, "the dead letter", strings.Join(reasons, "\n"))
	if !strings.Contains(logs.String(), "dead-lettered") {
		t.Fatalf("no dead-letter log line:\n%s", logs)
	}
	assertNoURLSecrets(t, "the logs", logs.String())
}

// TestConfigNeverPrintsURLSecrets: a target's configuration printed every
// way (fmt, slog, JSON) and target.ParseConfig's errors show the URL redacted.
func TestConfigNeverPrintsURLSecrets(t *testing.T) {
	c := webhookConfig("pbx", secretURL("https://hooks.example.com"))
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("t", "target", c, "targets", []target.Config{c})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("t", "target", c)
	js, err := json.Marshal(struct{ Targets []target.Config }{[]target.Config{c}})
	if err != nil {
		t.Fatal(err)
	}
	for how, out := range map[string]string{"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", struct{ T target.Config }{c}),
		"%#v": fmt.Sprintf("%#v", c), "%v slice": fmt.Sprintf("%v", []target.Config{c}), "slog": logs.String(), "json": string(js)} {
		assertNoURLSecrets(t, how, out)
	}
	bad := fmt.Sprintf(`{"name":"x","type":"webhook","url":"ftp://%s:%s@h/p?key=%s","secret":"s","status_map":{"available":"A"}}`, urlUser, urlPass, urlQuery)
	if _, err := target.ParseConfig(json.RawMessage(bad)); err == nil {
		t.Fatal("an ftp:// url was accepted")
	} else {
		assertNoURLSecrets(t, "ParseConfig's error", err.Error())
	}
}

// TestParseConfigRefusesNegativeAndOverflowingDurations: a negative
// timeout would fail every push at once, and a number of seconds beyond
// time.Duration's range wrapped to a negative one (found by
// FuzzParseConfig).
func TestParseConfigRefusesNegativeAndOverflowingDurations(t *testing.T) {
	for _, extra := range []string{`"timeout":-1`, `"dead_after":"-5m"`, `"timeout":1e300`, `"dead_after":-1e300`} {
		raw := `{"name":"x","type":"webhook","url":"https://h/","secret":"s","status_map":{"available":"A"},` + extra + `}`
		if c, err := target.ParseConfig(json.RawMessage(raw)); err == nil {
			t.Errorf("%s accepted: timeout %v, dead_after %v", extra, c.Timeout.Duration, c.DeadAfter.Duration)
		}
	}
}

// mustBuild builds the driver of c, as the sender does.
func mustBuild(t *testing.T, c target.Config, deps target.Deps) target.Driver {
	t.Helper()
	d, err := target.Build(c, deps)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
