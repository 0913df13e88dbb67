package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestServeOnRedisCluster: serve with ZOOMSYNC_REDIS_ADDRS on a local
// 3-master cluster: the first pull, a webhook applied, lookups, a resync
// run through the API, and the live stream's publish/subscribe.
func TestServeOnRedisCluster(t *testing.T) {
	c := testserver.StartClusterWith(t, testserver.ClusterOptions{Security: runSecurity(t)})
	fake, acct := startFake(t, 200)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := serveOnRedisAddrs(ctx, t, fake, c.Addrs(), c.Env())

	u, _ := acct.User(zoomfake.UserIDFor(acctID, 4))
	// Watch the live stream while the webhook lands.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/presence/stream", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("stream: %v", err)
	}
	defer stream.Body.Close()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64<<10)
		var acc strings.Builder
		for {
			n, err := stream.Body.Read(buf)
			acc.Write(buf[:n])
			// The stream also carries users whose records the pull
			// wrote meanwhile (and this user's, as it was pulled): wait
			// for this user's presenting event.
			for _, e := range strings.Split(acc.String(), "\n\n") {
				if strings.Contains(e, u.ID) && strings.Contains(e, `"status":"presenting"`) {
					got <- e
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	ev, err := acct.PresenceEvent(u.ID, "Presenting")
	if err != nil {
		t.Fatal(err)
	}
	if code, err := acct.Deliver(ctx, base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	var p helpdesk.Presence
	eventually(t, "the webhook applied", func() bool {
		return getJSON(t, base+"/v1/presence/"+u.Email, &p) == 200 && p.Status == "presenting"
	})
	select {
	case <-got:
	case <-time.After(2 * time.Minute): // a guard against a hang, not a timing assertion
		t.Fatal("the live stream never carried the user's presenting event")
	}
	if code := getJSON(t, base+"/v1/presence/"+u.ID, &p); code != 200 {
		t.Fatalf("by id: %d", code)
	}
	// A resync through the API, on the cluster.
	preq, _ := http.NewRequest(http.MethodPost, base+"/v1/resync", nil)
	preq.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(preq)
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		RunID string `json:"run_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	eventually(t, "the resync run succeeds", func() bool {
		var r struct {
			Status string `json:"status"`
		}
		return getJSON(t, base+"/v1/resync/"+run.RunID, &r) == 200 && r.Status == "succeeded"
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// serveOnRedisAddrs runs serve in-process against Redis at addrs (a
// Cluster, or Sentinels when extra names ZOOMSYNC_REDIS_MASTER_NAME; extra
// also carries a secured topology's credentials and TLS) and waits until
// it is ready.
func serveOnRedisAddrs(ctx context.Context, t *testing.T, fake *zoomfake.Server, addrs []string, extra map[string]string) (string, <-chan error) {
	t.Helper()
	env := serveEnv(fake, "", "127.0.0.1:0")
	delete(env, "ZOOMSYNC_REDIS_URL")
	env["ZOOMSYNC_REDIS_ADDRS"] = strings.Join(addrs, ",")
	env["ZOOMSYNC_API_TOKENS"] = apiToken
	for k, v := range extra {
		env[k] = v
	}
	base, done := startServe(ctx, loadConfig(t, env), "replica-1")
	if base == "" {
		t.Fatal(<-done)
	}
	eventually(t, "serve ready", func() bool { return status(base+"/readyz") == 200 })
	return base, done
}
