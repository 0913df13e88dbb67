package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/testserver"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

const (
	acctID   = "acct-1"
	whSecret = "webhook-secret-token"
)

func startFake(t *testing.T, users int) (*zoomfake.Server, *zoomfake.Account) {
	t.Helper()
	fake, err := zoomfake.Start(zoomfake.Options{Limits: zoomfake.Unlimited()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	a := fake.AddAccount(zoomfake.AccountSpec{ID: acctID, ClientID: "cid", ClientSecret: "csecret", WebhookSecret: whSecret, Users: users})
	return fake, a
}

func serveEnv(fake *zoomfake.Server, redisURL, addr string) map[string]string {
	return map[string]string{
		"ZOOMSYNC_HTTP_ADDR":        addr,
		"ZOOMSYNC_ADMIN_ADDR":       addr, // one listener: webhooks and API at one base URL
		"ZOOMSYNC_REDIS_URL":        redisURL,
		"ZOOM_ACCOUNT_ID":           acctID,
		"ZOOM_CLIENT_ID":            "cid",
		"ZOOM_CLIENT_SECRET":        "csecret",
		"ZOOM_WEBHOOK_SECRET_TOKEN": whSecret,
		"ZOOM_API_BASE_URL":         fake.APIBaseURL(),
		"ZOOM_OAUTH_TOKEN_URL":      fake.TokenURL(),
		"ZOOMSYNC_RESYNC_SCHEDULE":  "off",
		"ZOOMSYNC_ZOOM_PLAN":        "business",
		"ZOOMSYNC_LOG_LEVEL":        "warn",
		"ZOOMSYNC_API_RATE_LIMIT":   "0", // tests poll faster than a helpdesk would
	}
}

// eventually polls cond every 5 ms for up to 2 minutes: for conditions that
// depend on another process or a network round trip.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// A deadline against hangs, not a timing assertion: generous, because
	// a loaded 2-core machine (Samba, redis-server and serve sharing it)
	// can take tens of seconds for what usually takes one.
	deadline := time.After(2 * time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within 2m", what)
		}
	}
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// loadConfig is the configuration serve gets from env.
func loadConfig(t testing.TB, env map[string]string) *config.Config {
	t.Helper()
	if _, ok := env["ZOOMSYNC_ADMIN_ADDR"]; !ok && env["ZOOMSYNC_HTTP_ADDR"] != "" {
		env["ZOOMSYNC_ADMIN_ADDR"] = env["ZOOMSYNC_HTTP_ADDR"] // one listener: tests reach webhooks and API at one base URL
	}
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startServe runs Serve in the background until ctx ends and returns its
// base URL and where its result arrives.
func startServe(ctx context.Context, cfg *config.Config, replica string) (string, <-chan error) {
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, Options{Replica: replica, Listening: func(a string) { addrc <- a }}) }()
	select {
	case a := <-addrc:
		return "http://" + a, done
	case err := <-done:
		done <- err
		return "", done
	}
}

func TestServeIngestsAppliesAndShutsDown(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 200)
	cfg := loadConfig(t, serveEnv(fake, r.URL(), "127.0.0.1:0"))
	ctx, cancel := context.WithCancel(context.Background())
	base, done := startServe(ctx, cfg, "")

	if got := status(base + "/healthz"); got != 200 {
		t.Fatalf("healthz %d", got)
	}
	eventually(t, "readyz after the first full pull", func() bool { return status(base+"/readyz") == 200 })

	rdb := r.Client()
	store := zsync.NewStore(rdb, zsync.DefaultPartitions, cfg.Resync.TombstoneTTL)
	users := acct.Users()
	for _, u := range users[:5] {
		key := u.ID
		if u.Status == "pending" {
			continue
		}
		rec, err := store.User(context.Background(), acctID, key)
		if err != nil || rec.Fields[zsync.FieldEmail] != u.Email {
			t.Fatalf("pulled %s: %v %v", u.Email, rec, err)
		}
	}

	ev, err := acct.PresenceEvent(users[1].ID, "On_Phone_Call")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
		t.Fatalf("deliver: %d %v", code, err)
	}
	eventually(t, "presence applied", func() bool {
		rec, err := store.User(context.Background(), acctID, users[1].ID)
		return err == nil && rec.Fields[zsync.FieldPresence] == "on_call"
	})
	forged, _ := http.Post(base+"/webhooks/zoom/"+acctID, "application/json", strings.NewReader(`{"event":"user.deleted"}`))
	if forged.StatusCode != 401 {
		t.Fatalf("forged webhook: %d", forged.StatusCode)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`zoomsync_webhooks_total{event="user.presence_status_updated",outcome="accepted"} 1`,
		`outcome="bad_signature"} 1`, `zoomsync_full_pulls_total{account="acct-1",result="complete"} 1`, "zoomsync_zoom_api_requests_total",
		`zoomsync_inbox_dead_letters{account="acct-1",partition="0"} 0`, "zoomsync_inbox_lag_entries", "zoomsync_redis_up 1",
		`zoomsync_inbox_entries_applied_total{account="acct-1"} 1`, `zoomsync_inbox_apply_lag_seconds_count{account="acct-1"} 1`,
		`zoomsync_webhooks_refused_total{reason="missing_signature"} 1`, `zoomsync_webhook_ack_duration_seconds_count{code="200"} 1`,
		`zoomsync_webhook_ack_duration_seconds_count{code="401"} 1`, `zoomsync_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"} 1`,
		`zoomsync_build_info{goversion="go`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if bad := labelsWithRedisKeys(t, bytes.NewReader(metrics)); len(bad) > 0 {
		t.Errorf("labels carry Redis keys: %v", bad)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if status(base+"/healthz") != 0 {
		t.Fatal("still serving after shutdown")
	}
}

func TestReadyzWhileRedisIsDown(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 20)
	cfg := loadConfig(t, serveEnv(fake, r.URL(), "127.0.0.1:0"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, _ := startServe(ctx, cfg, "")
	eventually(t, "ready", func() bool { return status(base+"/readyz") == 200 })
	r.Stop()
	if got := status(base + "/readyz"); got != 503 {
		t.Fatalf("readyz with Redis stopped: %d", got)
	}
	ev, _ := acct.PresenceEvent(acct.Users()[0].ID, "Away")
	if code, _ := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev); code != 503 {
		t.Fatalf("webhook with Redis down: %d, want 503 so Zoom retries", code)
	}
	r.Restart()
	eventually(t, "recovered by itself", func() bool {
		code, _ := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev)
		return code == 200 && status(base+"/readyz") == 200
	})
}

// acked is a webhook that was answered 2xx.
type acked struct {
	user    string
	version zsync.Version
}

// TestCrashLosesNoAcknowledgedWebhook: 5,000 signed webhooks in flight,
// the serve process killed with SIGKILL mid-stream and restarted; every
// webhook that got a 2xx must be reflected in state (redis-server with AOF).
func TestCrashLosesNoAcknowledgedWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two processes")
	}
	bin := buildBinary(t)
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, 1000)
	var active []zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	start := func() (*exec.Cmd, string) { return startServeBinary(t, bin, serveEnv(fake, r.URL(), "")) }
	first, base := start()

	const total = 5000
	var (
		mu       sync.Mutex
		acks     []acked
		sent     atomic.Int64
		killOnce sync.Once
		killed   = make(chan struct{})
	)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := sent.Add(1)
				if i > total {
					return
				}
				u := active[int(i)%len(active)]
				ev, err := acct.PresenceEvent(u.ID, []string{"Available", "Away", "In_Meeting", "On_Phone_Call"}[i%4])
				if err != nil {
					t.Error(err)
					return
				}
				code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev)
				if err == nil && code == 200 {
					mu.Lock()
					acks = append(acks, acked{u.ID, zsync.WebhookVersion(ev.TS)})
					n := len(acks)
					mu.Unlock()
					if n == total*2/5 {
						killOnce.Do(func() { _ = first.Process.Kill(); close(killed) }) // SIGKILL mid-stream
					}
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the process was never killed")
	}
	_ = first.Wait()
	t.Logf("%d of %d webhooks acknowledged before and while the process was killed", len(acks), total)

	restarted := time.Now()
	start() // restart: the new process claims and applies what the dead one left
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	store := zsync.NewStore(rdb, zsync.DefaultPartitions, 168*time.Hour)
	newest := map[string]zsync.Version{}
	for _, a := range acks {
		newest[a.user] = max(newest[a.user], a.version)
	}
	missing := func() int {
		n := 0
		for user, v := range newest {
			rec, err := store.User(context.Background(), acctID, user)
			if err != nil || rec.Versions[zsync.FieldZoomStatus] < v {
				n++
			}
		}
		return n
	}
	// Entries the killed process had read but not acknowledged are claimed
	// by the new process once idle for ClaimIdle (10 s by default).
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(90 * time.Second)
	for m := missing(); m > 0; m = missing() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d users lack an acknowledged webhook's state", m)
		}
	}
	reliability(t, "serve SIGKILLed under load, restarted", len(acks), len(acks), 0, -1, time.Since(restarted))
}

// reliability logs one row of the reliability table (task reliability
// collects them into docs/RELIABILITY.md): what was acknowledged, what
// ended up applied, what was lost, duplicates pushed, and the time to
// recover.
func reliability(t *testing.T, scenario string, acknowledged, applied, lost, duplicates int, recovery time.Duration) {
	t.Helper()
	dups := strconv.Itoa(duplicates)
	if duplicates < 0 {
		dups = "n/a" // nothing pushed in this scenario
	}
	if os.Getenv(testserver.SecureEnv) == "secure" {
		scenario += ", Redis with TLS and an ACL user"
	}
	t.Logf("reliability: %s | %d | %d | %d | %s | %.1f s", scenario, acknowledged, applied, lost, dups, recovery.Seconds())
}

// startServeBinary starts the real binary's serve with env (its address
// chosen here), waits until it is ready, and kills it at the end of the
// test.
func startServeBinary(t testing.TB, bin string, env map[string]string) (*exec.Cmd, string) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env["ZOOMSYNC_HTTP_ADDR"], env["ZOOMSYNC_ADMIN_ADDR"] = addr, addr
	cmd := exec.Command(bin, "serve")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "serve ready", func() bool { return status("http://"+addr+"/readyz") == 200 })
	return cmd, "http://" + addr
}

func freePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TestTwoReplicasApplyEachEventOnce: two serve instances share one Redis;
// webhooks go to either; every event is applied exactly once in total.
func TestTwoReplicasApplyEachEventOnce(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 300)
	cfg := loadConfig(t, serveEnv(fake, r.URL(), "127.0.0.1:0"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bases []string
	for _, name := range []string{"replica-a", "replica-b"} {
		base, _ := startServe(ctx, cfg, name)
		bases = append(bases, base)
	}
	for _, b := range bases {
		eventually(t, "ready", func() bool { return status(b+"/readyz") == 200 })
	}
	const n = 600
	users := acct.Users()
	for i := 0; i < n; i++ {
		ev, err := acct.PresenceEvent(users[i%250].ID, []string{"Away", "Available", "In_Meeting"}[i%3])
		if err != nil {
			t.Fatal(err)
		}
		if code, err := acct.Deliver(context.Background(), bases[i%2]+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
			t.Fatalf("deliver %d: %d %v", i, code, err)
		}
	}
	applied := func() int {
		total := 0
		for _, b := range bases {
			total += appliedTotal(t, b)
		}
		return total
	}
	eventually(t, "all applied", func() bool { return applied() >= n })
	if got := applied(); got != n {
		t.Fatalf("%d applications for %d events: some were applied twice", got, n)
	}
}

func TestResyncAPI(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 100)
	env := serveEnv(fake, r.URL(), "127.0.0.1:0")
	const token = "helpdesk-token-0123456789"
	env["ZOOMSYNC_API_TOKENS"] = "other-token-abcdefghijkl," + token
	cfg := loadConfig(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, _ := startServe(ctx, cfg, "")
	eventually(t, "ready", func() bool { return status(base+"/readyz") == 200 })
	_ = acct.DeleteUser(acct.Users()[0].ID)

	call := func(method, path, tok string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for _, tok := range []string{"", "wrong-token-0123456789", token + "x"} {
		if code, m := call("POST", "/v1/resync", tok); code != 401 || m["error"].(map[string]any)["code"] != "unauthorized" {
			t.Fatalf("token %q: %d %v", tok, code, m)
		}
	}
	code, m := call("POST", "/v1/resync", token)
	if code != 202 || m["run_id"] == "" {
		t.Fatalf("POST: %d %v", code, m)
	}
	id := m["run_id"].(string)
	eventually(t, "run finished", func() bool {
		_, m := call("GET", "/v1/resync/"+id, token)
		return m["status"] == "succeeded"
	})
	_, m = call("GET", "/v1/resync/"+id, token)
	accounts := m["accounts"].([]any)
	res := accounts[0].(map[string]any)
	if res["deleted"].(float64) != 1 || res["seen"].(float64) != 99 || !strings.Contains(res["summary"].(string), "deleted 1") {
		t.Fatalf("run record %v", m)
	}
	if code, _ := call("GET", "/v1/resync/nope", token); code != 404 {
		t.Fatalf("unknown run: %d", code)
	}
}
