package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

const thirdToken = "third-token-0123456789abcdef"

// hostileServe runs serve on the embedded Redis against a fake Zoom with
// users users, the API tokens apiToken, otherToken, pollToken and
// thirdToken, extra variables, and limits (nil: the defaults); it returns
// once serve is ready.
func hostileServe(t *testing.T, users int, extra map[string]string, limits *helpdesk.Limits, log *slog.Logger) (string, *zoomfake.Account) {
	t.Helper()
	fake, acct := startFake(t, users)
	env := serveEnv(fake, "", "127.0.0.1:0")
	delete(env, "ZOOMSYNC_REDIS_URL")
	env["ZOOMSYNC_API_TOKENS"] = strings.Join([]string{apiToken, otherToken, pollToken, thirdToken}, ",")
	for k, v := range extra {
		env[k] = v
	}
	cfg := loadConfig(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, Options{Replica: "hostile", Logger: log, limits: limits, Listening: func(a string) { addrc <- a }})
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "readyz", func() bool { return status(base+"/readyz") == 200 })
	return base, acct
}

// get sends GET path with the Authorization header auth ("" for none)
// and returns the status and body.
func get(t testing.TB, client *http.Client, base, path, auth string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errCode(b []byte) string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return e.Error.Code
}

// webhookSeries returns the label sets of zoomsync_webhooks_total.
func webhookSeries(t testing.TB, base string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(metricsText(t, base), "\n") {
		if rest, ok := strings.CutPrefix(line, "zoomsync_webhooks_total{"); ok {
			labels, _, _ := strings.Cut(rest, "}")
			out = append(out, labels)
		}
	}
	return out
}

// TestWebhookMetricSeriesStayAFixedSet: 10,000 unsigned webhooks with
// made-up event names (on the account route, the account-less route,
// and made-up account ids) and 300 signed ones do not add series to
// zoomsync_webhooks_total beyond the fixed set of event labels ×
// outcomes, and no made-up name or account appears in /metrics.
func TestWebhookMetricSeriesStayAFixedSet(t *testing.T) {
	base, acct := hostileServe(t, 5, nil, nil, nil)
	rng := rand.New(rand.NewPCG(7, 14))
	madeUp := func(prefix string) string { return fmt.Sprintf("%smadeup%012x", prefix, rng.Uint64()&0xffffffffffff) }
	families := []string{"", "user.", "phone.", "phone.callee_", "contact_center.", "endpoint."}
	type shot struct{ path, body string }
	var shots []shot
	var names []string
	for i := 0; i < 10_000; i++ {
		name := madeUp(families[i%len(families)])
		names = append(names, name)
		path := "/webhooks/zoom/" + acctID
		switch i % 3 {
		case 1:
			path = "/webhooks/zoom"
		case 2:
			account := madeUp("acct-")
			names = append(names, account)
			path = "/webhooks/zoom/" + account
		}
		account := acctID
		if i%5 == 0 {
			account = ""
		}
		shots = append(shots, shot{path, fmt.Sprintf(`{"event":%q,"event_ts":1,"payload":{"account_id":%q,"object":{"id":"u1"}}}`, name, account)})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var accepted atomic.Int64
	work := make(chan shot)
	for range 8 {
		wg.Go(func() {
			for s := range work {
				resp, err := client.Post(base+s.path, "application/json", strings.NewReader(s.body))
				if err != nil {
					t.Error(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					accepted.Add(1)
				}
			}
		})
	}
	for _, s := range shots {
		work <- s
	}
	close(work)
	wg.Wait()
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d unsigned webhooks were accepted", n)
	}
	for i := range 300 { // signed: verified, so counted, as "other"
		name := madeUp(families[i%len(families)])
		names = append(names, name)
		body := fmt.Sprintf(`{"event":%q,"event_ts":1,"payload":{"account_id":%q,"object":{"id":"u1"}}}`, name, acctID)
		if code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, zoomfake.Event{Name: name, Body: []byte(body)}); err != nil || code != 200 {
			t.Fatalf("signed %s: %d %v", name, code, err)
		}
	}
	series := webhookSeries(t, base)
	allowed := append(webhook.KnownEvents(), "unknown", webhook.EventOther)
	outcomes := 7 // webhook.Outcome*
	if len(series) > len(allowed)*outcomes {
		t.Fatalf("%d zoomsync_webhooks_total series, more than the fixed set's %d", len(series), len(allowed)*outcomes)
	}
	for _, s := range series {
		ev, _, _ := strings.Cut(strings.TrimPrefix(s, `event="`), `"`)
		if !slices.Contains(allowed, ev) {
			t.Fatalf("series %s: event label outside the fixed set", s)
		}
	}
	text := metricsText(t, base)
	for _, n := range names {
		if strings.Contains(text, n) {
			t.Fatalf("/metrics names %q, which came from a request", n)
		}
	}
	t.Logf("10,300 webhooks with made-up names: %d series: %v", len(series), series)
}

// TestHTTPLimits: headers over 64 KiB answer 431; lookup keys over 256
// bytes answer 400 key_too_long on every lookup; the Bearer scheme is
// matched in any case; idle and slow-header connections are closed.
func TestHTTPLimits(t *testing.T) {
	limits := helpdesk.DefaultLimits()
	limits.IdleTimeout = 300 * time.Millisecond
	limits.ReadHeaderTimeout = 300 * time.Millisecond
	base, acct := hostileServe(t, 5, nil, &limits, nil)
	client := &http.Client{}
	u1, _ := acct.User(zoomfake.UserIDFor(acctID, 1))
	bearerAuth := "Bearer " + apiToken

	t.Run("headers", func(t *testing.T) {
		for _, tc := range []struct {
			size int
			want int
		}{{32 << 10, 200}, {100 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
			if code, b := get(t, client, base, "/healthz", "", "X-Padding", strings.Repeat("a", tc.size)); code != tc.want {
				t.Fatalf("%d bytes of headers: %d %s, want %d", tc.size, code, b, tc.want)
			}
		}
	})
	t.Run("lookup keys", func(t *testing.T) {
		long := url.PathEscape(strings.Repeat("k", helpdesk.MaxKeyBytes+1))
		atLimit := url.PathEscape(strings.Repeat("k", helpdesk.MaxKeyBytes))
		for _, tc := range []struct {
			path string
			code int
			err  string
		}{
			{"/v1/presence/" + long, 400, "key_too_long"},
			{"/v1/presence/" + long + "/history", 400, "key_too_long"},
			{"/v1/users/" + long, 400, "key_too_long"},
			{"/v1/presence?key=" + url.QueryEscape(u1.Email) + "&key=" + long, 400, "key_too_long"},
			{"/v1/people?q=" + long, 400, "key_too_long"},
			{"/v1/presence/" + atLimit, 404, "not_found"},
			{"/v1/users/" + atLimit, 404, "not_found"},
			{"/v1/presence?key=" + atLimit, 200, ""},
		} {
			code, b := get(t, client, base, tc.path, bearerAuth)
			if code != tc.code || errCode(b) != tc.err {
				t.Errorf("%.80s: %d %s, want %d %s", tc.path, code, b, tc.code, tc.err)
			}
		}
	})
	t.Run("bearer scheme", func(t *testing.T) {
		for _, tc := range []struct {
			auth string
			code int
		}{
			{"Bearer " + apiToken, 200}, {"bearer " + apiToken, 200}, {"BEARER " + apiToken, 200}, {"bEaReR  " + apiToken, 200},
			{"Basic " + apiToken, 401}, {"Bearer" + apiToken, 401}, {"Bearer", 401}, {apiToken, 401},
		} {
			if code, b := get(t, client, base, "/v1/targets", tc.auth); code != tc.code {
				t.Errorf("Authorization %.12q…: %d %s, want %d", tc.auth, code, b, tc.code)
			}
		}
	})
	// Both waits below end when the server closes the connection; the
	// read deadline only bounds a failing test.
	closedByServer := func(t *testing.T, conn net.Conn, br *bufio.Reader) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, br)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server kept the connection open")
		}
	}
	t.Run("idle connection", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		closedByServer(t, conn, br)
	})
	t.Run("slow headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never finished
		closedByServer(t, conn, bufio.NewReader(conn))
	})
}

func TestHTTPServerHasEveryLimit(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), helpdesk.DefaultLimits())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 ||
		srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Fatalf("limits: read header %v, read %v, write %v, idle %v, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// openStream sends GET /v1/presence/stream with token on a new
// connection and returns the connection (open, for a 200) with the
// answer's status and error code.
func openStream(addr, token string) (net.Conn, *bufio.Reader, int, string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, 0, "", err
	}
	return requestStream(conn, token)
}

func requestStream(conn net.Conn, token string) (net.Conn, *bufio.Reader, int, string, error) {
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second)) // bounds a failing test only
	if _, err := fmt.Fprintf(conn, "GET /v1/presence/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", token); err != nil {
		conn.Close()
		return nil, nil, 0, "", err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, 0, "", err
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		return nil, nil, resp.StatusCode, errCode(b), nil
	}
	events := bufio.NewReader(resp.Body) // the body is chunked
	line, err := events.ReadString('\n') // the stream's first comment
	if err != nil || !strings.HasPrefix(line, ": zoomsync") {
		conn.Close()
		return nil, nil, 0, "", fmt.Errorf("stream preamble %q: %v", line, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, events, 200, "", nil
}

func gaugeValue(t testing.TB, base, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, base), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// TestStreamCaps: beyond ZOOMSYNC_STREAM_MAX_PER_TOKEN a token's streams
// answer 503 too_many_streams, beyond ZOOMSYNC_STREAM_MAX_CONNECTIONS
// every token's do; a closed stream gives its slot back.
func TestStreamCaps(t *testing.T) {
	base, _ := hostileServe(t, 3, map[string]string{"ZOOMSYNC_STREAM_MAX_CONNECTIONS": "3", "ZOOMSYNC_STREAM_MAX_PER_TOKEN": "2"}, nil, nil)
	addr := strings.TrimPrefix(base, "http://")
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	steps := []struct {
		token string
		code  int
	}{{apiToken, 200}, {apiToken, 200}, {apiToken, 503}, {otherToken, 200}, {otherToken, 503}, {thirdToken, 503}}
	for i, s := range steps {
		conn, _, code, ec, err := openStream(addr, s.token)
		if err != nil || code != s.code || (code == 503 && ec != "too_many_streams") {
			t.Fatalf("step %d: %d %q %v, want %d", i, code, ec, err, s.code)
		}
		if conn != nil {
			open = append(open, conn)
		}
	}
	if g := gaugeValue(t, base, "zoomsync_live_streams"); g != 3 {
		t.Fatalf("zoomsync_live_streams %v, want 3", g)
	}
	open[0].Close() // one of apiToken's
	eventually(t, "the slot is given back", func() bool { return gaugeValue(t, base, "zoomsync_live_streams") == 2 })
	conn, _, code, _, err := openStream(addr, thirdToken)
	if err != nil || code != 200 {
		t.Fatalf("after a stream closed: %d %v", code, err)
	}
	open = append(open, conn)
	if m := metricsText(t, base); !strings.Contains(m, `zoomsync_live_streams_refused_total{limit="token"} 1`) ||
		!strings.Contains(m, `zoomsync_live_streams_refused_total{limit="process"} 2`) {
		t.Fatalf("refusals not counted:\n%s", metricsText(t, base))
	}
}

// TestStreamOutlivesTheServerTimeouts: the server's read and write
// timeouts end ordinary requests, not a live stream: a stream opened
// before a slow-header connection is cut (which takes longer than both)
// still delivers the next presence change.
func TestStreamOutlivesTheServerTimeouts(t *testing.T) {
	limits := helpdesk.DefaultLimits()
	limits.ReadTimeout, limits.WriteTimeout, limits.ReadHeaderTimeout = time.Second, time.Second, 2*time.Second
	base, acct := hostileServe(t, 3, nil, &limits, nil)
	addr := strings.TrimPrefix(base, "http://")
	conn, br, code, _, err := openStream(addr, apiToken)
	if err != nil || code != 200 {
		t.Fatalf("stream: %d %v", code, err)
	}
	defer conn.Close()
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprint(slow, "GET /healthz HTTP/1.1\r\n")
	_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, slow); err != nil {
		t.Fatalf("the slow-header connection was not cut: %v", err)
	}
	u1 := zoomfake.UserIDFor(acctID, 1)
	ev, err := acct.PresenceEvent(u1, "Do_Not_Disturb")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // bounds a failing test only
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after the server's timeouts: %v", err)
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, u1) {
			return
		}
	}
}

// procStatus reads a field (kB) of /proc/self/status.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return f
		}
	}
	return -1
}

type memSample struct {
	heapMB, rssMB float64
	goroutines    int
}

func sampleMemory() memSample {
	debug.FreeOSMemory() // a full collection, twice over the pools' victim caches, and memory back to the OS
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapMB: float64(ms.HeapInuse) / (1 << 20), rssMB: procStatus("VmRSS") / 1024, goroutines: runtime.NumGoroutine()}
}

func (m memSample) String() string {
	return fmt.Sprintf("heap %.1f MB, RSS %.1f MB, %d goroutines", m.heapMB, m.rssMB, m.goroutines)
}

// TestTwoThousandStreams: 2,000 connections ask for the live stream at
// once (three tokens; a cap of 100 per process and 40 per token), twice.
// Exactly the cap is served, the rest answer 503 too_many_streams and are
// closed; memory and goroutines grow with the cap, not the connections,
// return when the streams close, and a second flood leaves nothing more
// behind than the first; lookups are answered throughout. The numbers are
// logged (and, with ZOOMSYNC_ARTIFACTS set, written to streams.txt there).
// ZOOMSYNC_STREAMS_TEST_CONNECTIONS changes the 2,000.
func TestTwoThousandStreams(t *testing.T) {
	const streamCap, perToken = 100, 40
	conns := 2000
	if s := os.Getenv("ZOOMSYNC_STREAMS_TEST_CONNECTIONS"); s != "" {
		conns, _ = strconv.Atoi(s)
	}
	base, acct := hostileServe(t, 20, map[string]string{
		"ZOOMSYNC_STREAM_MAX_CONNECTIONS": strconv.Itoa(streamCap), "ZOOMSYNC_STREAM_MAX_PER_TOKEN": strconv.Itoa(perToken)}, nil, nil)
	addr := strings.TrimPrefix(base, "http://")
	u1, _ := acct.User(zoomfake.UserIDFor(acctID, 1))

	// Lookups, all the while.
	lookupClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer lookupClient.CloseIdleConnections()
	var lookups, lookupFailures atomic.Int64
	var failure atomic.Value
	lookupOnce := func() {
		code, b := get(t, lookupClient, base, "/v1/presence/"+url.PathEscape(u1.Email), "Bearer "+pollToken)
		lookups.Add(1)
		if code != 200 {
			lookupFailures.Add(1)
			failure.Store(fmt.Sprintf("%d %s", code, b))
		}
	}
	lookupOnce() // warm: the connection and the lookup cache exist before the baseline
	before := sampleMemory()
	stopLookups := make(chan struct{})
	var lookupWG sync.WaitGroup
	lookupWG.Go(func() {
		for {
			select {
			case <-stopLookups:
				return
			default:
				lookupOnce()
			}
		}
	})
	defer func() { // also when a check below fails
		select {
		case <-stopLookups:
		default:
			close(stopLookups)
		}
		lookupWG.Wait()
	}()

	tokens := []string{apiToken, otherToken, thirdToken}
	// flood opens every connection first, then sends every request at
	// once; it returns the open streams and how many were refused.
	flood := func() (open []net.Conn, refused int) {
		raw := make([]net.Conn, conns)
		var dialWG sync.WaitGroup
		var next atomic.Int64
		for range 32 {
			dialWG.Go(func() {
				for i := int(next.Add(1)) - 1; i < conns; i = int(next.Add(1)) - 1 {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						t.Errorf("dial %d: %v", i, err)
						return
					}
					raw[i] = c
				}
			})
		}
		dialWG.Wait()
		if t.Failed() {
			for _, c := range raw {
				if c != nil {
					c.Close()
				}
			}
			t.FailNow()
		}
		type result struct {
			conn  net.Conn
			token string
			code  int
			ec    string
			err   error
		}
		results := make([]result, conns)
		var reqWG sync.WaitGroup
		start := make(chan struct{})
		for i := range conns {
			reqWG.Go(func() {
				<-start
				tok := tokens[i%len(tokens)]
				c, _, code, ec, err := requestStream(raw[i], tok)
				results[i] = result{c, tok, code, ec, err}
			})
		}
		close(start)
		reqWG.Wait()
		perTok := map[string]int{}
		var bad []string
		for i, r := range results {
			switch {
			case r.code == 200:
				perTok[r.token]++
				open = append(open, r.conn)
			case r.code == 503 && r.ec == "too_many_streams":
				refused++
			default:
				bad = append(bad, fmt.Sprintf("connection %d: %d %q %v", i, r.code, r.ec, r.err))
			}
		}
		if len(bad) > 0 || len(open) != streamCap || refused != conns-streamCap {
			for _, c := range open {
				c.Close()
			}
			t.Fatalf("%d served, %d refused of %d; want the cap of %d served; %d others: %v", len(open), refused, conns, streamCap, len(bad), bad[:min(len(bad), 5)])
		}
		for tok, n := range perTok {
			if n > perToken {
				t.Fatalf("token %.5s… holds %d streams, over its cap of %d", tok, n, perToken)
			}
		}
		return open, refused
	}
	closeAll := func(open []net.Conn) {
		for _, c := range open {
			c.Close()
		}
		eventually(t, "every stream closed", func() bool { return gaugeValue(t, base, "zoomsync_live_streams") == 0 })
		eventually(t, "goroutines back", func() bool { return runtime.NumGoroutine() <= before.goroutines+10 })
	}

	var report strings.Builder
	fmt.Fprintf(&report, "%d stream requests at once, cap %d (%d per token), twice\nbefore:  %s\n", conns, streamCap, perToken, before)
	var at, after [2]memSample
	for round := range 2 {
		open, refused := flood()
		// The refused connections are closed by the server once answered;
		// what stays is the open streams'.
		eventually(t, "the refused connections closed", func() bool {
			return runtime.NumGoroutine() <= before.goroutines+3*streamCap+20
		})
		lookupOnce()
		at[round] = sampleMemory()
		closeAll(open)
		lookupOnce()
		after[round] = sampleMemory()
		fmt.Fprintf(&report, "round %d: %d served, %d refused\n  at:    %s\n  after: %s\n", round+1, len(open), refused, at[round], after[round])
	}
	close(stopLookups)
	lookupWG.Wait()
	fmt.Fprintf(&report, "%d lookups during, %d failed\n", lookups.Load(), lookupFailures.Load())
	t.Log(report.String())
	if dir := os.Getenv("ZOOMSYNC_ARTIFACTS"); dir != "" {
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(filepath.Join(dir, "streams.txt"), []byte(report.String()), 0o644)
	}
	if n := lookupFailures.Load(); n != 0 || lookups.Load() < 5 {
		t.Fatalf("lookups during the floods: %d of %d failed (last: %v)", n, lookups.Load(), failure.Load())
	}
	// Each open stream costs a connection, two goroutines and a buffer of
	// streamBuffer events (here on both ends: the clients are in this
	// process too); the refused connections cost nothing once closed.
	for round := range 2 {
		if d := at[round].goroutines - before.goroutines; d > 3*streamCap+20 {
			t.Fatalf("round %d: %d more goroutines with %d streams open", round+1, d, streamCap)
		}
		if d := at[round].heapMB - before.heapMB; d > 16 {
			t.Fatalf("round %d: heap grew %.1f MB with %d streams open", round+1, d, streamCap)
		}
	}
	if d := after[0].heapMB - before.heapMB; d > 4 {
		t.Fatalf("heap %.1f MB above the start once every stream closed", d)
	}
	if d := after[1].heapMB - after[0].heapMB; d > 1 {
		t.Fatalf("the second flood left %.1f MB more heap than the first", d)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTargetURLSecretsNeverShown: a webhook target whose URL has user
// info and a query, pushed to until its change is dead-lettered: GET
// /v1/targets shows the URL redacted, and no log line of serve (start-up,
// push failures, the dead letter) has the user, password or query.
func TestTargetURLSecretsNeverShown(t *testing.T) {
	const user, pass, query = "tgt-user-3b1d", "tgt-pass-c4e9", "tgt-query-8a2f"
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer refusing.Close()
	targetURL := strings.Replace(refusing.URL, "://", "://"+user+":"+pass+"@", 1) + "/hook?key=" + query
	file := filepath.Join(t.TempDir(), "targets.json")
	if err := os.WriteFile(file, fmt.Appendf(nil, `[{"name":"pbx","type":"webhook","url":%q,"secret":"target-signing-secret",
		"status_map":{"dnd":"DND","available":"Available"},"dead_after":"1ms"}]`, targetURL), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	base, acct := hostileServe(t, 3, map[string]string{"ZOOMSYNC_TARGETS_FILE": file, "ZOOMSYNC_LOG_LEVEL": "debug"}, nil,
		slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ev, err := acct.PresenceEvent(zoomfake.UserIDFor(acctID, 1), "Do_Not_Disturb")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	var body []byte
	eventually(t, "the change dead-lettered", func() bool {
		var code int
		code, body = get(t, http.DefaultClient, base, "/v1/targets", "Bearer "+apiToken)
		return code == 200 && strings.Contains(string(body), `"dead":1`)
	})
	want := strings.Replace(refusing.URL, "://", "://redacted@", 1) + "/hook?redacted"
	if !strings.Contains(string(body), `"url":"`+want+`"`) {
		t.Fatalf("GET /v1/targets does not show the redacted url %s: %s", want, body)
	}
	if !strings.Contains(logs.String(), "dead-lettered") {
		t.Fatalf("no dead-letter line in the logs:\n%s", logs)
	}
	for _, leak := range []string{user, pass, query, "target-signing-secret"} {
		for where, s := range map[string]string{"GET /v1/targets": string(body), "the logs": logs.String()} {
			if strings.Contains(s, leak) {
				t.Fatalf("%s show %q:\n%s", where, leak, s)
			}
		}
	}
}
