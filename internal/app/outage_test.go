package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence/target"
)

// pushReceiver is the target's far end: it answers 503 while down and
// records every push it accepts, checking its signature.
type pushReceiver struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  map[string][]target.WebhookBody // user → pushes accepted, in arrival order
	bad  int
	n    atomic.Int64
}

const pushSecret = "push-secret-0123456789"

// verifiedPush reads a push a webhook target received: its body, if the
// signature (pushSecret) holds and it decodes.
func verifiedPush(req *http.Request) (target.WebhookBody, bool) {
	body, _ := io.ReadAll(req.Body)
	var b target.WebhookBody
	ok := target.Verify(pushSecret, req.Header, body, time.Now(), time.Minute) == nil && json.Unmarshal(body, &b) == nil
	return b, ok
}

func newPushReceiver(t *testing.T) *pushReceiver {
	r := &pushReceiver{got: map[string][]target.WebhookBody{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := verifiedPush(req)
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if !ok {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.got[b.ZoomUserID] = append(r.got[b.ZoomUserID], b)
		r.n.Add(1)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestTargetOutage: the target answers 503 for 30 s while 1,000 users
// change status three times each; afterwards every user's latest status
// arrives, in order per user, nothing lost, at most one duplicate per
// user. With restart, the worker is SIGKILLed during the outage and
// started again.
func TestTargetOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("two 30-second outages")
	}
	bin := buildBinary(t)
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "outage", true: "outage with SIGKILL and restart"}[restart], func(t *testing.T) {
			t.Parallel()
			runOutage(t, bin, restart)
		})
	}
}

func runOutage(t *testing.T, bin string, restart bool) {
	const users = 1000
	outage := 30 * time.Second
	if reliabilityLong() {
		outage = 3 * time.Minute
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, 1200)
	active := activeUsers(t, acct, users)
	rcv := newPushReceiver(t)
	targets := writeTargets(t, rcv)
	start := func() (*exec.Cmd, string) {
		env := serveEnv(fake, r.URL(), "")
		env["ZOOMSYNC_TARGETS_FILE"] = targets
		env["ZOOMSYNC_PRESENCE_READS_PER_SECOND"] = "0" // only the webhooks below change presence
		env["ZOOMSYNC_API_TOKENS"] = apiToken
		return startServeBinary(t, bin, env)
	}
	proc, base := start()

	rcv.down.Store(true)
	outageOver := time.After(outage)
	statuses := [][]string{{"In_Meeting", "Available", "On_Phone_Call"}, {"Away", "Do_Not_Disturb", "In_Meeting"}, {"Available", "Busy", "Presenting"}}
	want := map[string]string{}
	canonical := map[string]string{"In_Meeting": "in_meeting", "Available": "available", "On_Phone_Call": "on_call", "Away": "away",
		"Do_Not_Disturb": "dnd", "Busy": "busy", "Presenting": "presenting"}
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < users; i = int(next.Add(1)) - 1 {
					u := active[i]
					st := statuses[i%3][round]
					ev, err := acct.PresenceEvent(u.ID, st)
					if err != nil {
						t.Error(err)
						return
					}
					if code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
						t.Errorf("webhook %d: %d %v", i, code, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for i, u := range active {
			want[u.ID] = canonical[statuses[i%3][round]]
		}
		if restart && round == 1 {
			_ = proc.Process.Kill() // SIGKILL during the outage, mid-way through the changes
			_ = proc.Wait()
			_, base = start()
		}
	}
	<-outageOver
	rcv.down.Store(false)
	recovered := time.Now()

	latest := func() (missing int) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for u, st := range want {
			got := rcv.got[u]
			if len(got) == 0 || got[len(got)-1].Status != st {
				missing++
			}
		}
		return missing
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(90 * time.Second)
	for m := latest(); m > 0; m = latest() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d of %d users' latest status never arrived", m, users)
		}
	}
	// What operators see: the target's outbox drained, and a user's history.
	var tv struct {
		Targets []struct {
			Name               string `json:"name"`
			Pending, Delivered int64
			Failed             int64
		} `json:"targets"`
	}
	// (The push counts are written a moment after the pushes: batched.)
	eventually(t, "the outbox drained and its pushes counted", func() bool {
		return getJSON(t, base+"/v1/targets", &tv) == 200 && len(tv.Targets) == 1 && tv.Targets[0].Pending == 0 && tv.Targets[0].Delivered >= users
	})
	if tv.Targets[0].Delivered < users || tv.Targets[0].Failed == 0 {
		t.Errorf("GET /v1/targets: %+v", tv.Targets[0])
	}
	var hist struct {
		Changes []struct {
			Status string `json:"status"`
		} `json:"changes"`
	}
	if code := getJSON(t, base+"/v1/presence/"+active[0].ID+"/history?since=1h", &hist); code != 200 || len(hist.Changes) < 3 ||
		hist.Changes[len(hist.Changes)-1].Status != want[active[0].ID] {
		t.Errorf("history of %s: %d %+v", active[0].ID, code, hist)
	}
	dups, maxDups := rcv.duplicates(t)
	if maxDups > 1 || rcv.bad > 0 {
		t.Fatalf("duplicates: %d in all, %d at most for one user (want ≤ 1); %d bad pushes", dups, maxDups, rcv.bad)
	}
	scenario := fmt.Sprintf("presence target down %v, 1,000 users changing", outage)
	if restart {
		scenario += ", serve SIGKILLed meanwhile"
	}
	reliability(t, scenario, users*3, users, 0, dups, time.Since(recovered))
	t.Logf("restart=%v: every user's latest status delivered %v after the target recovered; %d pushes for %d users, %d duplicates",
		restart, time.Since(recovered).Round(time.Millisecond), rcv.n.Load(), users, dups)
}
