package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestResyncAPIOnTwoReplicas: two replicas each get POST /v1/resync at
// the same moment: one answers 202, the other 409 resync_running naming
// the 202's run, and no second run record is stored. (This file uses
// only the HTTP API, so it also runs against builds before the 409.)
func TestResyncAPIOnTwoReplicas(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	z := startGatedZoom(t, 30)
	env := serveEnv(z.fake, r.URL(), "127.0.0.1:0")
	const token = "helpdesk-token-0123456789"
	env["ZOOMSYNC_API_TOKENS"] = token
	cfg := loadConfig(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := startServe(ctx, cfg, "replica-a")
	b, _ := startServe(ctx, cfg, "replica-b")
	for _, base := range []string{a, b} {
		eventually(t, "ready", func() bool { return status(base+"/readyz") == 200 })
	}
	for round := range 5 {
		z.close()
		before := len(r.Client().Keys(ctx, "zs:{runs}:*").Val())
		type answer struct {
			code int
			body map[string]any
		}
		answers := make([]answer, 2)
		var wg sync.WaitGroup
		startLine := make(chan struct{})
		for i, base := range []string{a, b} {
			wg.Go(func() {
				<-startLine
				answers[i].code, answers[i].body = resyncCall(t, base, http.MethodPost, "", token)
			})
		}
		close(startLine)
		wg.Wait()
		won, lost := answers[0], answers[1]
		if won.code != http.StatusAccepted {
			won, lost = lost, won
		}
		e, _ := lost.body["error"].(map[string]any)
		if won.code != http.StatusAccepted || lost.code != http.StatusConflict || e["code"] != "resync_running" || e["run_id"] != won.body["run_id"] {
			t.Fatalf("round %d: answers %d %v and %d %v, want one 202 and one 409 naming its run", round, won.code, won.body, lost.code, lost.body)
		}
		if after := len(r.Client().Keys(ctx, "zs:{runs}:*").Val()); after != before+1 {
			t.Fatalf("round %d: %d run records stored, want 1", round, after-before)
		}
		<-z.arrived
		z.open()
		id := won.body["run_id"].(string)
		eventually(t, "the run succeeds", func() bool {
			_, m := resyncCall(t, a, http.MethodGet, id, token)
			return m["status"] == "succeeded"
		})
	}
}

// gatedZoom is a fake Zoom whose user listings wait while its gate is
// closed: a resync that stays running until the test lets it go on.
type gatedZoom struct {
	fake    *zoomfake.Server
	acct    *zoomfake.Account
	arrived chan struct{} // one value per listing that found the gate closed

	mu      sync.Mutex
	release chan struct{} // nil: open
}

func startGatedZoom(t *testing.T, users int) *gatedZoom {
	t.Helper()
	g := &gatedZoom{fake: zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited()}), arrived: make(chan struct{}, 64)}
	g.acct = g.fake.AddAccount(zoomfake.AccountSpec{ID: acctID, ClientID: "cid", ClientSecret: "csecret", WebhookSecret: whSecret, Users: users})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v2/users" {
			g.mu.Lock()
			rel := g.release
			g.mu.Unlock()
			if rel != nil {
				g.arrived <- struct{}{}
				select {
				case <-rel:
				case <-r.Context().Done():
					return
				}
			}
		}
		g.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.open) // before srv.Close: nothing stays parked
	g.fake.SetURL(srv.URL)
	return g
}

// close makes the next listings wait.
func (g *gatedZoom) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release == nil {
		g.release = make(chan struct{})
	}
}

// open lets every waiting and later listing through.
func (g *gatedZoom) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release != nil {
		close(g.release)
		g.release = nil
	}
}

// resyncCall calls POST /v1/resync (id "") or GET /v1/resync/{id}.
func resyncCall(t *testing.T, base, method, id, token string) (int, map[string]any) {
	t.Helper()
	path := "/v1/resync"
	if id != "" {
		path += "/" + id
	}
	req, _ := http.NewRequest(method, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}
