package app

import (
	"context"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestServeWithSentinelFailover: serve finds the master through three
// Sentinels (ZOOMSYNC_REDIS_ADDRS + ZOOMSYNC_REDIS_MASTER_NAME); when the
// master is killed and a Sentinel promotes the replica, serve follows it
// by itself and webhooks are acknowledged and applied again.
func TestServeWithSentinelFailover(t *testing.T) {
	s := testserver.StartSentinel(t)
	fake, acct := startFake(t, 100)
	env := serveEnv(fake, "", "127.0.0.1:0")
	delete(env, "ZOOMSYNC_REDIS_URL")
	env["ZOOMSYNC_REDIS_ADDRS"] = strings.Join(s.Addrs(), ",")
	env["ZOOMSYNC_REDIS_MASTER_NAME"] = testserver.MasterName
	env["ZOOMSYNC_API_TOKENS"] = apiToken
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startServe(ctx, loadConfig(t, env), "sentinel-1")
	if base == "" {
		t.Fatal(<-done)
	}
	eventually(t, "ready through Sentinel", func() bool { return status(base+"/readyz") == 200 })
	u, _ := acct.User(zoomfake.UserIDFor(acctID, 4))
	deliver := func(st string) int {
		ev, err := acct.PresenceEvent(u.ID, st)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := acct.Deliver(ctx, base+"/webhooks/zoom/"+acctID, ev)
		return code
	}
	var p presenceView
	if code := deliver("Away"); code != 200 {
		t.Fatalf("webhook before the failover: %d", code)
	}
	eventually(t, "applied before the failover", func() bool { return getJSON(t, base+"/v1/presence/"+u.Email, &p) == 200 && p.Status == "away" })

	old, _ := s.MasterAddr(ctx)
	s.Master.Kill()
	eventually(t, "a Sentinel promotes the replica", func() bool {
		a, err := s.MasterAddr(ctx)
		return err == nil && a != old
	})
	// Until serve reconnects to the new master, webhooks answer 503 (Zoom
	// retries); then they are taken and applied again.
	eventually(t, "webhooks acknowledged after the failover", func() bool { return deliver("In_Meeting") == 200 })
	eventually(t, "applied after the failover", func() bool {
		return getJSON(t, base+"/v1/presence/"+u.Email, &p) == 200 && p.Status == "in_meeting"
	})
	cancel()
	<-done
}
