package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/sourcegraph/conc"

	"github.com/zoomsync/zoomsync/directory/dirfake"
	"github.com/zoomsync/zoomsync/internal/app"
	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/people"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

func demoFlags(fs *flag.FlagSet) {
	fs.String("addr", "127.0.0.1:8080", "where zoomsync listens (a free port is used if this one is taken)")
	fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.Int("users", 150, "generated users per simulated Zoom account")
	fs.Float64("rate", 2, "simulated webhook events per second per account")
	fs.String("intake", "webhook", "how the simulated Zoom delivers events: webhook, websocket (an event subscription over an outbound WebSocket, no public endpoint) or both")
	fs.Bool("teams", false, "also push presence to Microsoft Teams: a teams target against a simulated Microsoft Graph tenant")
}

// demoAccounts are the simulated Zoom accounts.
var demoAccounts = []string{"demo-emea", "demo-amer"}

// runDemo runs the real `serve` pipeline — webhook verification, the
// inbox, the reconciler, the first full pulls through the real Zoom
// client, the directory read and mapping, the helpdesk API — against
// simulated outside systems: a fake Zoom with two accounts whose users
// change presence and take calls, an in-process LDAP directory, and an
// embedded Redis.
func runDemo(ctx context.Context, env *Env, fs *flag.FlagSet) error {
	addr := fs.Lookup("addr").Value.(flag.Getter).Get().(string)
	duration := fs.Lookup("duration").Value.(flag.Getter).Get().(time.Duration)
	users := fs.Lookup("users").Value.(flag.Getter).Get().(int)
	rate := fs.Lookup("rate").Value.(flag.Getter).Get().(float64)
	intake := fs.Lookup("intake").Value.(flag.Getter).Get().(string)
	withTeams := fs.Lookup("teams").Value.(flag.Getter).Get().(bool)
	if users < 1 || users > 100_000 || rate <= 0 || duration < 0 {
		return &usageError{"demo: --users must be 1..100000, --rate > 0, --duration ≥ 0"}
	}
	if intake != "webhook" && intake != "websocket" && intake != "both" {
		return &usageError{"demo: --intake must be webhook, websocket or both"}
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	// Simulators and the watcher print concurrently: one lock keeps lines whole.
	out := &lockedWriter{w: env.Stdout}
	fmt.Fprintln(out, "zoomsync demo: the real pipeline on embedded defaults. Zoom and the directory are simulated in-process;")
	fmt.Fprintln(out, "Redis is embedded (nothing survives the demo). Everything else is what `zoomsync serve` runs.")

	fake, err := zoomfake.Start(zoomfake.Options{Logger: env.Logger})
	if err != nil {
		return fmt.Errorf("demo: starting the simulated Zoom: %w", err)
	}
	defer fake.Close()
	dir, note, err := startDemoDirectory(len(demoAccounts) * users)
	if err != nil {
		return fmt.Errorf("demo: starting the simulated directory: %w", err)
	}
	defer dir.Close()
	fmt.Fprintf(out, "\nsimulated Zoom API: %s (Business+ rate limits enforced), %d accounts × %d users\n", fake.APIBaseURL(), len(demoAccounts), users)
	fmt.Fprintf(out, "simulated directory: %s %s\n", dir.URL(), note)

	tmp, err := os.MkdirTemp("", "zoomsync-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var accountsJSON []map[string]string
	webhookSecrets := map[string]string{}
	fakes := map[string]*zoomfake.Account{}
	subs := map[string]*zoomfake.WSSubscription{}
	for i, id := range demoAccounts {
		clientSecret, whSecret := randomToken(), randomToken()
		fakes[id] = fake.AddAccount(zoomfake.AccountSpec{ID: id, ClientID: id + "-client", ClientSecret: clientSecret,
			WebhookSecret: whSecret, Users: users, FirstUser: i * users})
		webhookSecrets[id] = whSecret
		entry := map[string]string{"account_id": id, "client_id": id + "-client",
			"client_secret": clientSecret, "webhook_secret_token": whSecret}
		if intake != "webhook" {
			subs[id] = fakes[id].WebSocketSubscription(id + "-ws")
			entry["websocket_url"] = subs[id].URL()
		}
		accountsJSON = append(accountsJSON, entry)
	}
	if intake != "webhook" {
		fmt.Fprintf(out, "simulated WebSocket event subscriptions: %s (zoomsync connects out; no public endpoint needed)\n", subs[demoAccounts[0]].URL())
	}
	accountsFile := filepath.Join(tmp, "accounts.json")
	b, _ := json.Marshal(accountsJSON)
	if err := os.WriteFile(accountsFile, b, 0o600); err != nil {
		return err
	}
	token := randomToken()
	pbx, err := startDemoTarget(out)
	if err != nil {
		return err
	}
	defer pbx.Close()
	targetsFile := filepath.Join(tmp, "targets.json")
	targets := []byte(fmt.Sprintf(`[{"name":"demo-pbx","type":"webhook","url":%q,"secret":%q,
		"status_map":{"available":"Available","away":"Away","in_meeting":"Busy","presenting":"Busy","on_call":"OnThePhone","dnd":"DoNotDisturb","offline":"Offline"}}]`,
		pbx.URL, demoTargetSecret))
	if withTeams {
		graph, entry, err := startDemoTeams(out, tmp, len(demoAccounts)*users)
		if err != nil {
			return err
		}
		defer graph.Close()
		if targets, err = withTarget(targets, entry); err != nil {
			return err
		}
	}
	if err := os.WriteFile(targetsFile, targets, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo target \"demo-pbx\" (a webhook receiver that checks signatures and logs pushes): %s\n", pbx.URL)
	cfg, err := config.Load(ctx, envconfig.MapLookuper(map[string]string{
		// One listener serves webhooks, the API and the board.
		"ZOOMSYNC_HTTP_ADDR": addr, "ZOOMSYNC_ADMIN_ADDR": addr, "ZOOMSYNC_ACCOUNTS_FILE": accountsFile,
		"ZOOM_API_BASE_URL": fake.APIBaseURL(), "ZOOM_OAUTH_TOKEN_URL": fake.TokenURL(),
		"LDAP_URL": dir.URL(), "LDAP_BIND_DN": people.ServiceBindDN, "LDAP_BIND_PASSWORD": people.ServicePassword,
		"LDAP_BASE_DN": people.UsersDN, "ZOOMSYNC_MATCH_RULES": "email=mail,employee_unique_id=employeeNumber",
		"ZOOMSYNC_API_TOKENS": token, "ZOOMSYNC_RESYNC_SCHEDULE": "off",
		"ZOOMSYNC_TARGETS_FILE": targetsFile, "ZOOMSYNC_PRESENCE_READS_PER_SECOND": "20",
	}))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	listening := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- app.Serve(serveCtx, cfg, app.Options{Logger: env.Logger, Listening: func(a string) { listening <- a }})
	}()
	var base string
	select {
	case a := <-listening:
		base = "http://" + a
	case err := <-served:
		if cfg.HTTP.Addr == "127.0.0.1:0" {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(out, "(%s: %v; using a free port)\n", addr, err)
		cfg.HTTP.Addr, cfg.HTTP.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
		go func() {
			served <- app.Serve(serveCtx, cfg, app.Options{Logger: env.Logger, Listening: func(a string) { listening <- a }})
		}()
		select {
		case a := <-listening:
			base = "http://" + a
		case err := <-served:
			return fmt.Errorf("demo: %w", err)
		}
	}
	fmt.Fprintf(out, "zoomsync serving at %s (webhooks: %s/webhooks/zoom/{account_id})\n", base, base)

	api := &demoAPI{base: base, token: token}
	if err := api.waitReady(ctx, out); err != nil {
		return err
	}
	sample := people.At(2).Mail
	fmt.Fprintf(out, "\nlive presence board: %s/board (it asks for the token below once)\n", base)
	fmt.Fprintf(out, "helpdesk API token: %s\n", token)
	fmt.Fprintf(out, "try (by email, directory uid, employee number, extension or Zoom user id):\n")
	fmt.Fprintf(out, "  curl -s -H 'Authorization: Bearer %s' %s/v1/presence/%s\n", token, base, sample)
	fmt.Fprintf(out, "  curl -s -H 'Authorization: Bearer %s' %s/v1/presence/%s\n", token, base, people.At(3).UID)
	fmt.Fprintf(out, "  curl -s -H 'Authorization: Bearer %s' %s/v1/mapping/report\n", token, base)
	if body, code, err := api.presenceKnown(ctx, sample); err == nil {
		fmt.Fprintf(out, "  → %d %s\n", code, body)
	}

	fmt.Fprintf(out, "\nsimulated users now change presence, take calls and change agent status (%.1f events/s per account); Ctrl-C stops.\n", rate)
	var accepted, refused atomic.Int64
	var wg conc.WaitGroup
	for i, id := range demoAccounts {
		var send func(ctx context.Context, ev zoomfake.Event) (int, error)
		switch intake {
		case "websocket":
			send = subs[id].SendStatus
		case "both": // Zoom delivers each event both ways; zoomsync applies it once
			url, sub, acct := base+"/webhooks/zoom/"+id, subs[id], fakes[id]
			send = func(ctx context.Context, ev zoomfake.Event) (int, error) {
				sub.Send(ev)
				return acct.Deliver(ctx, url, ev)
			}
		}
		sim := fakes[id].Simulator(zoomfake.SimOptions{URL: base + "/webhooks/zoom/" + id, Rate: rate, Seed: uint64(i + 1), Send: send,
			OnDeliver: func(ev zoomfake.Event, status int, err error) {
				if err == nil && status/100 == 2 {
					accepted.Add(1)
				} else {
					refused.Add(1)
				}
				fmt.Fprintf(out, "%s  %-10s %-34s %-48s → %d\n", time.Now().Format("15:04:05"), id, ev.Name, describeEvent(ev.Body), status)
			}})
		wg.Go(func() { _ = sim.Run(ctx) })
	}
	wg.Go(func() { api.watch(ctx, out, sample) })
	<-ctx.Done()
	wg.Wait()
	if intake == "websocket" {
		fmt.Fprintf(out, "\ndemo stopped: %d events sent over the WebSocket, %d lost (no connection open).\n", accepted.Load(), refused.Load())
	} else {
		fmt.Fprintf(out, "\ndemo stopped: %d webhooks acknowledged by zoomsync, %d refused.\n", accepted.Load(), refused.Load())
	}
	stopServe()
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// startDemoDirectory serves people 1..n, minus a few (their Zoom users stay
// unmatched), plus a few without a Zoom user and one entry that shares an
// email with another (a conflict), so the mapping report has something to
// say.
func startDemoDirectory(n int) (*dirfake.Server, string, error) {
	dir, err := dirfake.Start(dirfake.Options{People: n + 5})
	if err != nil {
		return nil, "", err
	}
	missing := 0
	for i := 37; i <= n; i += 37 {
		dir.Remove(people.At(i).DN())
		missing++
	}
	p := people.At(10)
	dir.Put(dirfake.Entry{DN: "uid=" + p.UID + "b," + people.UsersDN, Attributes: map[string][]string{
		"objectClass": {"inetOrgPerson"}, "uid": {p.UID + "b"}, "cn": {p.CN() + " (second account)"}, "mail": {p.Mail}}})
	return dir, fmt.Sprintf("(%d people; %d Zoom users deliberately without an entry, 5 people without a Zoom user, 1 email on two entries)", n+5-missing+1, missing), nil
}

// demoAPI is the demo's own helpdesk client.
type demoAPI struct{ base, token string }

func (a *demoAPI) get(ctx context.Context, path string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(bytes.TrimRight(b, "\n ")), resp.StatusCode, nil
}

// waitReady waits for /readyz: the first pulls and the first mapping
// computed after them.
func (a *demoAPI) waitReady(ctx context.Context, out io.Writer) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ready := false
	for {
		if !ready {
			_, code, _ := a.get(ctx, "/readyz")
			ready = code == 200
		}
		if ready {
			var rep struct {
				Counts map[string]int `json:"counts"`
			}
			if body, code, _ := a.get(ctx, "/v1/mapping/report?limit=1"); code == 200 && json.Unmarshal([]byte(body), &rep) == nil {
				c := rep.Counts
				fmt.Fprintf(out, "ready: first full pull of every account done; %d Zoom users linked to the directory: matched %d, unmatched Zoom users %d, unmatched directory people %d, conflicts %d\n",
					c["users"], c["matched"], c["unmatched_users"], c["unmatched_entries"], c["conflicts"])
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: zoomsync did not become ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// presenceKnown answers /v1/presence/{key} once the user's presence is
// known (the sweeper reads never-confirmed users through the REST API
// within seconds), or after 10 s whatever it is.
func (a *demoAPI) presenceKnown(ctx context.Context, key string) (string, int, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		body, code, err := a.get(ctx, "/v1/presence/"+key)
		if err != nil || !strings.Contains(body, `"status":"unknown"`) {
			return body, code, err
		}
		select {
		case <-ctx.Done():
			return body, code, ctx.Err()
		case <-deadline:
			return body, code, nil
		case <-tick.C:
		}
	}
}

const demoTargetSecret = "demo-target-secret-0123456789"

// startDemoTarget is the demo's presence target: it verifies each push's
// signature and prints it.
func startDemoTarget(out io.Writer) (*httptest.Server, error) {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if target.Verify(demoTargetSecret, r.Header, body, time.Now(), 5*time.Minute) != nil {
			fmt.Fprintf(out, "%s  demo-pbx   REFUSED a push with a bad signature\n", time.Now().Format("15:04:05"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p target.WebhookBody
		_ = json.Unmarshal(body, &p)
		fmt.Fprintf(out, "%s  demo-pbx   ⇠ pushed %-34s %s → %s (sets %s, seq %d)\n", time.Now().Format("15:04:05"), p.Email, p.PreviousStatus, p.Status, p.TargetStatus, p.Seq)
	})), nil
}

// watch prints the sample user's presence as the API answers it, every
// five seconds.
func (a *demoAPI) watch(ctx context.Context, out io.Writer, key string) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var p struct {
			Status string  `json:"status"`
			Since  *string `json:"since"`
		}
		if body, code, err := a.get(ctx, "/v1/presence/"+key); err == nil && code == 200 && json.Unmarshal([]byte(body), &p) == nil {
			since := "?"
			if p.Since != nil {
				since = *p.Since
			}
			fmt.Fprintf(out, "%s  API: %s is %s (since %s)\n", time.Now().Format("15:04:05"), key, p.Status, since)
		}
	}
}

// describeEvent says what a simulated webhook reports, decoded by the
// same decoder zoomsync uses.
func describeEvent(body []byte) string {
	ev, err := webhook.Decode(body)
	if err != nil {
		return "(undecodable)"
	}
	switch o := ev.Object.(type) {
	case *webhook.PresenceEvent:
		return fmt.Sprintf("%s %s (%s)", o.Email, o.PresenceStatus, presence.ParseZoomStatus(o.PresenceStatus))
	case *webhook.CallEvent:
		if strings.HasSuffix(ev.Name, "_answered") || strings.HasSuffix(ev.Name, "_connected") {
			return "call " + string(o.CallID) + " started"
		}
		return "call " + string(o.CallID) + " ended"
	case *webhook.AgentStatusEvent:
		return "agent status " + o.CurrentStatusName
	}
	return ev.UserID()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
