package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// quickStart is what README.md's "Connect your Zoom account and
// directory" tells an operator to do.
type quickStart struct {
	env     map[string]string // the exported variables, as written
	targets string            // the targets file's JSON
	curl    string            // the lookup
}

func readQuickStart(t *testing.T) quickStart {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	qs := quickStart{env: map[string]string{}}
	var section, block, inQuickStart bool
	var lang string
	var targets strings.Builder
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			section = line == "## Connect your Zoom account and directory"
		case !section:
		case strings.HasPrefix(line, "<!-- quick-start:"):
			inQuickStart = true
		case strings.HasPrefix(line, "```") && !block:
			block, lang = true, strings.TrimPrefix(line, "```")
		case line == "```":
			block = false
			if lang == "sh" {
				inQuickStart = false
			}
		case block && lang == "json" && qs.targets == "":
			targets.WriteString(line + "\n")
		case block && lang == "sh" && inQuickStart && strings.HasPrefix(line, "export "):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			qs.env[k] = strings.Trim(v, "'")
		case block && lang == "sh" && strings.HasPrefix(line, "curl ") && qs.curl == "":
			qs.curl = line
		}
		if !block && lang == "json" && qs.targets == "" {
			qs.targets = targets.String()
		}
	}
	if len(qs.env) == 0 || qs.targets == "" || qs.curl == "" {
		t.Fatalf("README.md's quick start has no env block, targets file or lookup: %+v", qs)
	}
	return qs
}

// TestREADMEQuickStart follows README.md's quick start literally, with a
// fake Zoom (the account, client and webhook secret as the README writes
// them), slapd over LDAPS and redis-server standing in for the real
// ones: serve starts, pulls and links every user, answers the README's
// lookup on the admin listener with the directory entry, takes a signed
// webhook on the public listener, and pushes the change to the README's
// target. The stand-ins replace values only; a variable the README adds
// that the test cannot stand in for fails it.
func TestREADMEQuickStart(t *testing.T) {
	qs := readQuickStart(t)
	const users = 40
	fake, err := zoomfake.Start(zoomfake.Options{Limits: zoomfake.Unlimited()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	account := qs.env["ZOOM_ACCOUNT_ID"]
	acct := fake.AddAccount(zoomfake.AccountSpec{ID: account, ClientID: qs.env["ZOOM_CLIENT_ID"], ClientSecret: qs.env["ZOOM_CLIENT_SECRET"],
		WebhookSecret: qs.env["ZOOM_WEBHOOK_SECRET_TOKEN"], Users: users})
	slapd := testserver.StartSlapd(t, testserver.SlapdOptions{Users: users, TLS: true})
	r := testserver.StartRedis(t, testserver.RedisOptions{})

	var targetSecret string
	var raw []map[string]any
	if err := json.Unmarshal([]byte(qs.targets), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("README's targets file: %v\n%s", err, qs.targets)
	}
	targetSecret, _ = raw[0]["secret"].(string)
	var pushes atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if target.Verify(targetSecret, req.Header, body, time.Now(), 5*time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		pushes.Add(1)
	}))
	t.Cleanup(receiver.Close)
	raw[0]["url"] = receiver.URL
	targets, _ := json.Marshal(raw)
	targetsFile := filepath.Join(t.TempDir(), "targets.json")
	if err := os.WriteFile(targetsFile, targets, 0o600); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b) // what $(openssl rand -hex 24) gives

	standIns := map[string]string{
		"ZOOM_ACCOUNT_ID": account, "ZOOM_CLIENT_ID": qs.env["ZOOM_CLIENT_ID"], "ZOOM_CLIENT_SECRET": qs.env["ZOOM_CLIENT_SECRET"],
		"ZOOM_WEBHOOK_SECRET_TOKEN": qs.env["ZOOM_WEBHOOK_SECRET_TOKEN"], // the fake takes the README's
		"ZOOMSYNC_REDIS_URL":        r.URL(),
		"LDAP_URL":                  slapd.LDAPSURL, "LDAP_CA_FILE": slapd.TLS.CAFile,
		"LDAP_BIND_DN": testserver.ServiceBindDN, "LDAP_BIND_PASSWORD": testserver.ServicePassword, "LDAP_BASE_DN": testserver.UsersDN,
		"LDAP_USER_FILTER":     "(objectClass=inetOrgPerson)", // slapd's people are not AD users
		"ZOOMSYNC_MATCH_RULES": qs.env["ZOOMSYNC_MATCH_RULES"],
		"ZOOMSYNC_API_TOKENS":  token, "ZOOMSYNC_TARGETS_FILE": targetsFile,
	}
	env := map[string]string{}
	for k := range qs.env {
		v, ok := standIns[k]
		if !ok {
			t.Fatalf("the README's quick start sets %s, which this test has no stand-in for: add one", k)
		}
		env[k] = v
	}
	// Where the stand-ins are, and free ports for the two listeners.
	pub, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	adm, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	env["ZOOM_API_BASE_URL"], env["ZOOM_OAUTH_TOKEN_URL"] = fake.APIBaseURL(), fake.TokenURL()
	env["ZOOMSYNC_HTTP_ADDR"], env["ZOOMSYNC_ADMIN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", pub), fmt.Sprintf("127.0.0.1:%d", adm)
	env["ZOOMSYNC_LOG_LEVEL"] = "warn"
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatalf("the README's variables do not load: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, Options{Replica: "quickstart"}) }()
	t.Cleanup(func() { cancel(); <-done })
	public, admin := "http://"+env["ZOOMSYNC_HTTP_ADDR"], "http://"+env["ZOOMSYNC_ADMIN_ADDR"]
	eventually(t, "ready (pulled and linked)", func() bool { return status(public+"/readyz") == 200 })

	// The README's lookup, with a real user's email for jdoe's.
	u5, _ := acct.User(zoomfake.UserIDFor(account, 5))
	lookup := func() (helpdesk.Presence, int) {
		t.Helper()
		line := strings.NewReplacer("$ZOOMSYNC_API_TOKENS", token, "http://127.0.0.1:8081", admin, "jdoe@corp.example.com", u5.Email).Replace(qs.curl)
		fields := strings.Fields(line)
		u := fields[len(fields)-1]
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if h := strings.Index(line, `-H "`); h >= 0 {
			name, value, _ := strings.Cut(strings.SplitN(line[h+4:], `"`, 2)[0], ": ")
			req.Header.Set(name, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p helpdesk.Presence
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return p, resp.StatusCode
	}
	p, code := lookup()
	if code != 200 || p.ZoomUserID != u5.ID || p.Directory == nil || p.Directory.UID == "" {
		t.Fatalf("the README's lookup: %d %+v", code, p)
	}
	// A signed webhook on the public listener changes the answer and is
	// pushed to the target.
	ev, err := acct.PresenceEvent(u5.ID, "Do_Not_Disturb")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := acct.Deliver(context.Background(), public+"/webhooks/zoom/"+account, ev); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	eventually(t, "the lookup shows the webhook's status", func() bool { p, _ := lookup(); return p.Status == "dnd" })
	eventually(t, "a push reached the README's target", func() bool { return pushes.Load() > 0 })
	if got := status(public + "/v1/presence/" + u5.Email); got != http.StatusNotFound {
		t.Errorf("the public listener answered a lookup: %d", got)
	}
	t.Logf("README quick start: %s linked to %s, dnd after a webhook; %d pushes verified at the target", u5.Email, p.Directory.DN, pushes.Load())
}
