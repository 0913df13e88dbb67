package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/sync/runs"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestResyncThroughZoomMisbehaving: full resyncs while Zoom's answers go
// wrong in the ways a wrong proxy, a wrong base URL or a paging bug make
// them — a listing that repeats its next_page_token, a listing that never
// ends, and confirming reads answered 404 by something that is not Zoom —
// with webhooks arriving throughout. None of those runs may delete a user
// or loop; once Zoom answers properly again, one run makes the state
// match Zoom.
func TestResyncThroughZoomMisbehaving(t *testing.T) {
	if testing.Short() {
		t.Skip("resyncs against a misbehaving fake Zoom")
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, 2000)
	users := activeUsers(t, acct, 1500)
	base, store := serveReady(t, fake, r, nil)
	ctx := context.Background()

	// Zoom no longer has these users: a good run deletes exactly them.
	webhookUsers, rest := users[:500], users[500:]
	var gone []string
	for i := range 3 {
		_ = acct.DeleteUser(rest[i].ID)
		gone = append(gone, rest[i].ID)
	}
	load := startWebhookLoad(t, acct, webhookUsers, []string{base}, 4)
	eventually(t, "webhooks flowing", func() bool { return load.acknowledged() > 200 })

	resync := func() runs.Record {
		t.Helper()
		var run struct {
			RunID string `json:"run_id"`
		}
		if code := postJSON(t, base+"/v1/resync", &run); code != http.StatusAccepted {
			t.Fatalf("POST /v1/resync: %d", code)
		}
		var rec runs.Record
		eventually(t, "the run finishes", func() bool {
			return getJSON(t, base+"/v1/resync/"+run.RunID, &rec) == 200 && (rec.Status == "succeeded" || rec.Status == "failed")
		})
		if len(rec.Accounts) != 1 {
			t.Fatalf("run record %+v", rec)
		}
		return rec
	}
	deletedSoFar := func() int {
		n := 0
		for _, id := range gone {
			if rec, err := store.User(ctx, acctID, id); err == nil && rec.Deleted() {
				n++
			}
		}
		return n
	}

	for _, tc := range []struct {
		name   string
		faults zoomfake.Faults
	}{
		{"a repeated next_page_token", zoomfake.Faults{RepeatPageToken: true}},
		{"a listing that never ends", zoomfake.Faults{EndlessPages: true}},
		{"confirming reads answered 404 without Zoom's body", zoomfake.Faults{FailRate: 1, Status: 404, NoZoomBody: true,
			Routes: []string{"GET /users/{userId}"}}},
	} {
		fake.SetFaults(tc.faults)
		rec := resync()
		res := rec.Accounts[0]
		t.Logf("%s: %s: %s", tc.name, rec.Status, res.Summary)
		if res.Deleted != 0 || res.Deactivated != 0 || deletedSoFar() != 0 {
			t.Fatalf("%s: a run deleted users: %+v", tc.name, res)
		}
	}

	fake.SetFaults(zoomfake.Faults{})
	started := time.Now()
	if rec := resync(); rec.Status != "succeeded" || rec.Accounts[0].Deleted != len(gone) {
		t.Fatalf("the run after Zoom recovered: %s %+v", rec.Status, rec.Accounts[0])
	}
	eventually(t, "the gone users are deleted", func() bool { return deletedSoFar() == len(gone) })
	recovery := time.Since(started)
	acknowledged, applied := load.settle(t, store)
	reliability(t, "resyncs while Zoom repeats a page token, never ends a listing, then answers confirming reads with a proxy's 404; webhooks arriving (users deleted by those runs: 0)",
		acknowledged, applied, 0, -1, recovery)
}
