package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// linesWith counts the log lines containing s.
func (l *lockedBuffer) linesWith(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// accountsJSON is an accounts file of the test account with these
// webhook secrets (next may be "").
func accountsJSON(current, next string) string {
	entry := map[string]string{"account_id": acctID, "client_id": "cid", "client_secret": "csecret", "webhook_secret_token": current}
	if next != "" {
		entry["webhook_secret_token_next"] = next
	}
	b, _ := json.Marshal([]map[string]string{entry})
	return string(b)
}

// serveWithAccountsFile runs serve with its account from an accounts file
// at path, reloading on every value sent to the returned channel.
func serveWithAccountsFile(t *testing.T, path string, logs *lockedBuffer) (base string, hup chan<- struct{}) {
	t.Helper()
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, _ := startFake(t, 20)
	env := serveEnv(fake, r.URL(), "127.0.0.1:0")
	for _, k := range []string{"ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "ZOOM_WEBHOOK_SECRET_TOKEN"} {
		delete(env, k)
	}
	env["ZOOMSYNC_ACCOUNTS_FILE"] = path
	cfg := loadConfig(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), Reload: reload,
			Listening: func(a string) { addrc <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	eventually(t, "ready", func() bool { return status(base+"/readyz") == 200 })
	return base, reload
}

// deliver posts a webhook signed with secret and returns the status and
// body.
func deliver(t *testing.T, base, secret string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/zoom/"+acctID, bytes.NewReader(body))
	webhook.SignRequest(req.Header, secret, time.Now(), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

func presenceEvent() []byte {
	return []byte(fmt.Sprintf(`{"event":"user.presence_status_updated","event_ts":%d,"payload":{"account_id":"%s","object":{"id":"u-reload","email":"r@example.com","presence_status":"Away","date_time":"2027-01-15T08:00:00Z"}}}`,
		time.Now().UnixMilli(), acctID))
}

func writeAccounts(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadRotatesWebhookSecret: the operator adds the next secret, both
// verify (the URL validation answered with the one that signed it), then
// keeps only the new one, and the old one is refused; each step by
// SIGHUP.
func TestReloadRotatesWebhookSecret(t *testing.T) {
	const oldSecret, newSecret = "old-webhook-secret-1", "new-webhook-secret-2"
	path := filepath.Join(t.TempDir(), "accounts.json")
	writeAccounts(t, path, accountsJSON(oldSecret, ""))
	logs := &lockedBuffer{}
	base, hup := serveWithAccountsFile(t, path, logs)

	if code, _ := deliver(t, base, oldSecret, presenceEvent()); code != 200 {
		t.Fatalf("old secret before the rotation: %d", code)
	}
	if code, _ := deliver(t, base, newSecret, presenceEvent()); code != 401 {
		t.Fatalf("new secret before the rotation: %d", code)
	}

	writeAccounts(t, path, accountsJSON(oldSecret, newSecret))
	hup <- struct{}{}
	eventually(t, "the next secret verifies", func() bool { code, _ := deliver(t, base, newSecret, presenceEvent()); return code == 200 })
	if code, _ := deliver(t, base, oldSecret, presenceEvent()); code != 200 {
		t.Fatalf("old secret during the rotation: %d", code)
	}
	validation := []byte(`{"payload":{"plainToken":"plain-7"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)
	for _, s := range []string{oldSecret, newSecret} {
		code, body := deliver(t, base, s, validation)
		var got webhook.URLValidation
		if err := json.Unmarshal(body, &got); err != nil || code != 200 || got != webhook.ValidateURL(s, "plain-7") {
			t.Fatalf("URL validation signed with one of the secrets: %d %s", code, body)
		}
	}

	writeAccounts(t, path, accountsJSON(newSecret, ""))
	hup <- struct{}{}
	eventually(t, "the old secret is refused", func() bool { code, _ := deliver(t, base, oldSecret, presenceEvent()); return code == 401 })
	if code, _ := deliver(t, base, newSecret, presenceEvent()); code != 200 {
		t.Fatalf("new secret after the rotation: %d", code)
	}
	if n := logs.linesWith("accounts file reloaded"); n != 2 {
		t.Fatalf("%d reload lines, want 2:\n%s", n, logs)
	}
	for _, s := range []string{oldSecret, newSecret, "csecret"} {
		if strings.Contains(logs.String(), s) {
			t.Fatalf("a secret is in the logs:\n%s", logs)
		}
	}
}

// TestReloadBrokenFileKeepsTheAccounts: SIGHUP with a file that fails
// start-up's checks keeps the accounts in use and logs one line, with no
// secret in it.
func TestReloadBrokenFileKeepsTheAccounts(t *testing.T) {
	const current = "current-webhook-secret"
	path := filepath.Join(t.TempDir(), "accounts.json")
	writeAccounts(t, path, accountsJSON(current, ""))
	logs := &lockedBuffer{}
	base, hup := serveWithAccountsFile(t, path, logs)

	for i, broken := range []string{
		`[{"account_id":"` + acctID + `","client_id":"cid","client_secret":"new-client-secret","webhook_secret_token":"new-webhook-secret"`, // cut short
		`[{"account_id":"` + acctID + `","client_id":"cid","webhook_secret_token":"new-webhook-secret"}]`,                                   // no client_secret
	} {
		writeAccounts(t, path, broken)
		hup <- struct{}{}
		eventually(t, "the refusal logged", func() bool { return logs.linesWith("accounts file not reloaded") == i+1 })
		if code, _ := deliver(t, base, current, presenceEvent()); code != 200 {
			t.Fatalf("the secret in use after a broken file: %d", code)
		}
		if code, _ := deliver(t, base, "new-webhook-secret", presenceEvent()); code != 401 {
			t.Fatalf("the broken file's secret was taken: %d", code)
		}
	}
	for _, leak := range []string{current, "new-webhook-secret", "new-client-secret", "csecret"} {
		if strings.Contains(logs.String(), leak) {
			t.Fatalf("a secret is in the logs:\n%s", logs)
		}
	}
	if !strings.Contains(logs.String(), "entry 1 ("+acctID+"): client_secret is required") {
		t.Fatalf("the refusal does not say why:\n%s", logs)
	}
}

// mountedSecret lays out dir as the kubelet does for a Secret volume:
// dir/accounts.json -> ..data/accounts.json, ..data -> ..<version>.
type mountedSecret struct {
	t   *testing.T
	dir string
	n   int
}

func (m *mountedSecret) path() string { return filepath.Join(m.dir, "accounts.json") }

// update writes content into a new version directory and swaps ..data to
// it atomically (a rename over the old symlink).
func (m *mountedSecret) update(content string) {
	m.t.Helper()
	m.n++
	version := fmt.Sprintf("..2026_12_02_10_00_%02d.%d", m.n, m.n)
	if err := os.Mkdir(filepath.Join(m.dir, version), 0o755); err != nil {
		m.t.Fatal(err)
	}
	writeAccounts(m.t, filepath.Join(m.dir, version, "accounts.json"), content)
	if err := os.Symlink(version, filepath.Join(m.dir, "..data_tmp")); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(m.dir, "..data_tmp"), filepath.Join(m.dir, "..data")); err != nil {
		m.t.Fatal(err)
	}
	if m.n == 1 {
		if err := os.Symlink(filepath.Join("..data", "accounts.json"), m.path()); err != nil {
			m.t.Fatal(err)
		}
	}
}

// TestReloadFollowsAMountedSecret: Kubernetes' atomic ..data swap is
// picked up on the next look (the injected clock's poll), without SIGHUP;
// the new OAuth credentials are used at once, and what a running serve
// cannot change (an added or removed account, another field) is said in
// one line and left for the restart.
func TestReloadFollowsAMountedSecret(t *testing.T) {
	fake, acct := startFake(t, 5)
	mount := &mountedSecret{t: t, dir: t.TempDir()}
	entry := func(id, clientSecret, webhookSecret, name string) map[string]string {
		return map[string]string{"account_id": id, "client_id": "cid", "client_secret": clientSecret, "webhook_secret_token": webhookSecret, "name": name}
	}
	file := func(entries ...map[string]string) string { b, _ := json.Marshal(entries); return string(b) }
	mount.update(file(entry(acctID, "stale-client-secret", "webhook-secret-v1", "EMEA"), entry("acct-gone", "s", "webhook-secret-gone", "")))
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": mount.path()}))
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*zoomapi.Client{}
	for _, a := range cfg.Zoom.Accounts {
		c, err := zoomapi.NewClient(a.Credentials(), zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()))
		if err != nil {
			t.Fatal(err)
		}
		clients[a.ID] = c
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	getUser := func() error { _, _, err := clients[acctID].Users.Get(ctx, acct.Users()[0].ID); return err }
	if err := getUser(); err == nil {
		t.Fatal("the stale client secret worked")
	}
	clock := clockwork.NewFakeClock()
	logs := &lockedBuffer{}
	live := newLiveAccounts(cfg.Zoom.Accounts)
	rl := &reloader{path: mount.path(), read: cfg.Zoom.ReloadAccounts, live: live, clients: clients, clock: clock,
		log: slog.New(slog.NewTextHandler(logs, nil)), every: accountsPoll}
	done := make(chan struct{})
	go func() { defer close(done); rl.run(ctx, nil) }()
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the poll ticker
		t.Fatal(err)
	}

	mount.update(file(entry(acctID, "csecret", "webhook-secret-v2", "EMEA-1"), entry("acct-new", "s", "webhook-secret-new", "")))
	clock.Advance(accountsPoll)
	eventually(t, "the swap picked up", func() bool { s, _ := live.WebhookSecret(acctID); return s.Reveal() == "webhook-secret-v2" })
	if err := getUser(); err != nil {
		t.Fatalf("the reloaded client secret is not used: %v", err)
	}
	now := live.snapshot()
	if now[acctID].Name != "EMEA-1" || now[acctID].ClientSecret.Reveal() != "csecret" {
		t.Fatalf("account after the reload: %+v", now[acctID])
	}
	if _, ok := now["acct-gone"]; !ok {
		t.Fatal("a removed account stopped before the restart")
	}
	if _, ok := now["acct-new"]; ok {
		t.Fatal("an added account was half started")
	}
	cancel()
	<-done
	if logs.linesWith("accounts file reloaded") != 1 || logs.linesWith("take effect only when zoomsync restarts") != 1 ||
		!strings.Contains(logs.String(), "acct-gone removed") || !strings.Contains(logs.String(), "acct-new added") {
		t.Fatalf("reload logs:\n%s", logs)
	}
	for _, leak := range []string{"csecret", "stale-client-secret", "webhook-secret-"} {
		if strings.Contains(logs.String(), leak) {
			t.Fatalf("a secret is in the logs:\n%s", logs)
		}
	}
}
