package app

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestListenersSplitPublicAndAdmin: with ZOOMSYNC_ADMIN_ADDR apart from
// ZOOMSYNC_HTTP_ADDR, the public listener takes Zoom's webhooks and
// answers health, and every other path there is 404; the admin listener
// serves the API, board, stream, OpenAPI document and metrics, and no
// webhooks. Before, one listener exposed the helpdesk API wherever the
// webhooks had to be reachable.
func TestListenersSplitPublicAndAdmin(t *testing.T) {
	fake, acct := startFake(t, 20)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	env := serveEnv(fake, "", "127.0.0.1:0")
	delete(env, "ZOOMSYNC_REDIS_URL")
	env["ZOOMSYNC_ADMIN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
	env["ZOOMSYNC_API_TOKENS"] = apiToken
	cfg := loadConfig(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	pubc, admc, done := make(chan string, 1), make(chan string, 1), make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, Options{Replica: "split", Listening: func(a string) { pubc <- a }, AdminListening: func(a string) { admc <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var public, admin string
	for public == "" || admin == "" {
		select {
		case a := <-pubc:
			public = "http://" + a
		case a := <-admc:
			admin = "http://" + a
		case err := <-done:
			t.Fatal(err)
		}
	}
	if admin == public || admin != "http://"+env["ZOOMSYNC_ADMIN_ADDR"] {
		t.Fatalf("public %s, admin %s; want admin at %s", public, admin, env["ZOOMSYNC_ADMIN_ADDR"])
	}
	eventually(t, "ready", func() bool { return status(public+"/readyz") == 200 })

	call := func(method, url string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	u1, _ := acct.User(zoomfake.UserIDFor(acctID, 1))
	adminPaths := []string{"/v1/people", "/v1/presence/" + u1.Email, "/v1/users/" + u1.Email, "/v1/targets", "/v1/openapi.json",
		"/board", "/metrics", "/v1/mapping/report", "/v1/presence?key=" + u1.Email}
	for _, p := range adminPaths {
		if got := call(http.MethodGet, public+p); got != http.StatusNotFound {
			t.Errorf("public GET %s: %d, want 404", p, got)
		}
		if got := call(http.MethodGet, admin+p); got == http.StatusNotFound && p != "/v1/mapping/report" { // no directory: the report is 404 by design
			t.Errorf("admin GET %s: 404", p)
		}
	}
	for _, p := range []string{"/", "/v1/presence/stream", "/anything"} {
		if got := call(http.MethodGet, public+p); got != http.StatusNotFound {
			t.Errorf("public GET %s: %d, want 404", p, got)
		}
	}
	if got := call(http.MethodPost, public+"/v1/resync"); got != http.StatusNotFound {
		t.Errorf("public POST /v1/resync: %d, want 404", got)
	}
	for _, base := range []string{public, admin} {
		for _, p := range []string{"/healthz", "/readyz"} {
			if got := status(base + p); got != 200 {
				t.Errorf("GET %s%s: %d, want 200", base, p, got)
			}
		}
	}
	ev, err := acct.PresenceEvent(u1.ID, "Away")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := acct.Deliver(context.Background(), public+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
		t.Fatalf("public webhook: %d %v", code, err)
	}
	if code, err := acct.Deliver(context.Background(), admin+"/webhooks/zoom/"+acctID, ev); err != nil || code != http.StatusNotFound {
		t.Fatalf("admin webhook: %d %v, want 404", code, err)
	}
}
