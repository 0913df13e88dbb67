package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/directory/dirfake"
	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/people"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// receivedPush is what a webhook target receives.
type receivedPush struct {
	ZoomUserID string `json:"zoom_user_id"`
	Status     string `json:"status"`
	Previous   string `json:"previous_status"`
	Since      string `json:"since"`
	Seq        int64  `json:"seq"`
	Directory  *struct {
		DN             string `json:"dn"`
		UID            string `json:"uid"`
		EmployeeNumber string `json:"employee_number"`
	} `json:"directory"`
}

// directoryLater runs serve with a webhook target and a directory that
// has nobody in it yet (every read is refused, so no mapping is made)
// until people() fills it. It returns serve's base URL, the pushes the
// target receives, the directory, and the account's active users.
func directoryLater(t *testing.T) (string, <-chan receivedPush, *dirfake.Server, *zoomfake.Account) {
	t.Helper()
	dir, err := dirfake.Start(dirfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Close)
	pushes := make(chan receivedPush, 1000)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p receivedPush
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("push %s: %v", b, err)
		}
		pushes <- p
	}))
	t.Cleanup(receiver.Close)
	targets := filepath.Join(t.TempDir(), "targets.json")
	if err := os.WriteFile(targets, []byte(fmt.Sprintf(`[{"name":"pbx","type":"webhook","url":%q,"secret":"a-long-random-secret",
		"status_map":{"available":"A","away":"W","offline":"O","in_meeting":"M","on_call":"C","dnd":"D"}}]`, receiver.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	fake, acct := startFake(t, 12)
	env := serveEnv(fake, "", "127.0.0.1:0")
	for k, v := range map[string]string{"LDAP_URL": dir.URL(), "LDAP_BIND_DN": people.ServiceBindDN, "LDAP_BIND_PASSWORD": people.ServicePassword,
		"LDAP_BASE_DN": people.UsersDN, "ZOOMSYNC_API_TOKENS": apiToken, "ZOOMSYNC_TARGETS_FILE": targets,
		"ZOOMSYNC_PRESENCE_READS_PER_SECOND": "0"} {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	base, done := startServe(ctx, loadConfig(t, env), "r1")
	if base == "" {
		t.Fatal(<-done)
	}
	return base, pushes, dir, acct
}

// fillDirectory puts the people of the account's generated users in the
// directory and has serve read it now (a resync reads it after the pull).
func fillDirectory(t *testing.T, base string, dir *dirfake.Server) {
	t.Helper()
	for i := 0; i <= 12; i++ {
		p := people.At(i)
		dir.Put(dirfake.Entry{DN: p.DN(), Attributes: p.Attributes()})
	}
	if code := postJSON(t, base+"/v1/resync", nil); code != http.StatusAccepted {
		t.Fatalf("POST /v1/resync: %d", code)
	}
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Reason
}

// TestReadyzWaitsForTheFirstMapping: with LDAP_URL set, /readyz is 503
// after the first full pull, saying it waits for the directory mapping,
// and 200 once a mapping is published.
func TestReadyzWaitsForTheFirstMapping(t *testing.T) {
	base, _, dir, acct := directoryLater(t)
	eventually(t, "the first pull done, waiting for the mapping", func() bool {
		code, reason := readyz(t, base)
		if code == http.StatusOK {
			t.Fatal("ready before any directory mapping")
		}
		return code == http.StatusServiceUnavailable && reason == "first directory mapping not complete"
	})
	fillDirectory(t, base, dir)
	eventually(t, "ready after the mapping", func() bool { code, _ := readyz(t, base); return code == http.StatusOK })
	var rep reportCounts
	if getJSON(t, base+"/v1/mapping/report", &rep) != http.StatusOK || rep.Counts["matched"] == 0 {
		t.Fatalf("ready without links: %+v", rep)
	}
	// Ready means the lookups (answered by the read model) show the links.
	for _, u := range acct.Users() {
		var p helpdesk.Presence
		if code := getJSON(t, base+"/v1/presence/"+u.ID, &p); code != http.StatusOK || p.Directory == nil {
			t.Fatalf("ready, but %s: %d %+v", u.Email, code, p)
		}
	}
}

// TestDirectoryDataReachesTargets: a user pushed before the first mapping
// (directory null) gets, once the mapping links it, one more push with
// its directory data and the same status, previous status and since; a
// mapping that changes no link pushes nothing more.
func TestDirectoryDataReachesTargets(t *testing.T) {
	base, pushes, dir, acct := directoryLater(t)
	var user zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" {
			user = u
			break
		}
	}
	var person people.Person
	for i := 0; i <= 12; i++ {
		if people.At(i).Mail == user.Email {
			person = people.At(i)
		}
	}
	if person.UID == "" {
		t.Fatalf("no person for %s", user.Email)
	}
	next := func(what string) receivedPush {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case p := <-pushes:
				if p.ZoomUserID == user.ID {
					return p
				}
			case <-deadline:
				t.Fatalf("%s: no push within 30s", what)
			}
		}
	}
	presence := func(status string) {
		t.Helper()
		ev, err := acct.PresenceEvent(user.ID, status)
		if err != nil {
			t.Fatal(err)
		}
		if code, err := acct.Deliver(context.Background(), base+"/webhooks/zoom/"+acctID, ev); code != http.StatusOK {
			t.Fatalf("webhook: %d %v", code, err)
		}
	}
	eventually(t, "the first pull", func() bool { return getJSON(t, base+"/v1/users/"+user.ID, nil) == http.StatusOK })
	presence("Available")
	first := next("the status")
	if first.Status != "available" || first.Directory != nil {
		t.Fatalf("first push %+v", first)
	}

	fillDirectory(t, base, dir)
	again := next("the directory data")
	if again.Directory == nil || again.Directory.UID != person.UID || again.Directory.DN != person.DN() ||
		again.Directory.EmployeeNumber != person.EmployeeNumber {
		t.Fatalf("push after the mapping: %+v", again)
	}
	if again.Status != first.Status || again.Previous != first.Previous || again.Since != first.Since || again.Seq <= first.Seq {
		t.Fatalf("push after the mapping %+v, first %+v: want the same status, previous status and since, a newer seq", again, first)
	}
	// The helpdesk sees no change: same status and since, no history
	// entry. (Its lookups are answered by the read model, which holds the
	// link once the replica is ready.)
	eventually(t, "ready", func() bool { code, _ := readyz(t, base); return code == http.StatusOK })
	var view helpdesk.Presence
	if getJSON(t, base+"/v1/presence/"+user.ID, &view) != http.StatusOK || view.Status != "available" || view.Since == nil || view.Directory == nil {
		t.Fatalf("presence %+v", view)
	}
	var hist struct {
		Changes []map[string]any `json:"changes"`
	}
	if getJSON(t, base+"/v1/presence/"+user.ID+"/history", &hist) != http.StatusOK || len(hist.Changes) != 1 {
		t.Fatalf("history %+v", hist)
	}

	// Another mapping, no link changed: nothing until the next status.
	var rep struct {
		ComputedAt string `json:"computed_at"`
	}
	getJSON(t, base+"/v1/mapping/report", &rep)
	computed := rep.ComputedAt
	if code := postJSON(t, base+"/v1/resync", nil); code != http.StatusAccepted {
		t.Fatalf("POST /v1/resync: %d", code)
	}
	eventually(t, "the second mapping", func() bool {
		return getJSON(t, base+"/v1/mapping/report", &rep) == http.StatusOK && rep.ComputedAt != computed
	})
	presence("Away")
	if p := next("the next status"); p.Status != "away" || p.Previous != "available" || p.Directory == nil || p.Seq != again.Seq+1 {
		t.Fatalf("after an unchanged mapping, got %+v (want the away push next)", p)
	}
	// Pushes and the mapping in /metrics: how long the target took to
	// answer beside the delay from the change, Zoom users by outcome.
	m := metricsText(t, base)
	for _, want := range []string{`zoomsync_target_push_duration_seconds_count{target="`, `zoomsync_target_push_delay_seconds_count{target="`,
		`zoomsync_mapping_users{state="matched"}`, `zoomsync_mapping_users{state="unmatched"}`, "zoomsync_mapping_unmatched_entries ",
		"zoomsync_mapping_conflicts 0", "zoomsync_mapping_disabled_active_users 0"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
