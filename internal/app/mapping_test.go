package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

const apiToken = "test-token-0123456789abcdef"

// getJSON GETs url with the API token and decodes the answer.
func getJSON(t *testing.T, url string, out any) int { return callJSON(t, http.MethodGet, url, out) }

// postJSON POSTs to url (no body) with the API token and decodes the
// answer.
func postJSON(t *testing.T, url string, out any) int { return callJSON(t, http.MethodPost, url, out) }

func callJSON(t testing.TB, method, url string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

type reportCounts struct {
	Counts map[string]int `json:"counts"`
}

// TestServeMapsUsersToDirectory runs serve against real slapd and
// redis-server: Zoom users 1–300, directory people 1–320 plus a second
// entry with user 5's email. Then: lookups by every directory key, the
// report, an email change that keeps its link, and slapd stopped, which
// changes nothing.
func TestServeMapsUsersToDirectory(t *testing.T) {
	dup := testserver.PersonAt(5)
	slapd := testserver.StartSlapd(t, testserver.SlapdOptions{Users: 320, ExtraLDIF: fmt.Sprintf(`dn: uid=dup5,%s
objectClass: inetOrgPerson
uid: dup5
cn: Duplicate Five
sn: Five
mail: %s
employeeNumber: 900005
`, testserver.UsersDN, strings.ToUpper(dup.Mail))})
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 300)
	env := serveEnv(fake, r.URL(), "127.0.0.1:0")
	for k, v := range map[string]string{"LDAP_URL": slapd.URL, "LDAP_BIND_DN": testserver.ServiceBindDN,
		"LDAP_BIND_PASSWORD": testserver.ServicePassword, "LDAP_BASE_DN": testserver.UsersDN, "LDAP_PAGE_SIZE": "100",
		"ZOOMSYNC_MATCH_RULES": "email=mail,employee_unique_id=employeeNumber", "ZOOMSYNC_API_TOKENS": apiToken} {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startServe(ctx, loadConfig(t, env), "r1")
	if base == "" {
		t.Fatal(<-done)
	}

	var rep reportCounts
	eventually(t, "mapping report", func() bool {
		return getJSON(t, base+"/v1/mapping/report", &rep) == 200 && rep.Counts["matched"] == 299
	})
	want := map[string]int{"users": 300, "entries": 321, "unmatched_users": 0, "unmatched_entries": 20, "conflicts": 1}
	for k, v := range want {
		if rep.Counts[k] != v {
			t.Errorf("report %s = %d, want %d (%v)", k, rep.Counts[k], v, rep.Counts)
		}
	}
	var conflicts struct {
		Conflicts struct {
			Items []struct {
				Users   []map[string]string `json:"users"`
				Entries []string            `json:"entries"`
			} `json:"items"`
		} `json:"conflicts"`
	}
	getJSON(t, base+"/v1/mapping/report?category=conflicts", &conflicts)
	if it := conflicts.Conflicts.Items; len(it) != 1 || len(it[0].Entries) != 2 || it[0].Users[0]["email"] != dup.Mail {
		t.Fatalf("conflicts: %+v", conflicts)
	}

	p42 := testserver.PersonAt(42)
	id42 := zoomfake.UserIDFor(acctID, 42)
	// Lookups are answered by the read model, which a ready replica's
	// holds the mapping's links.
	eventually(t, "ready", func() bool { return status(base+"/readyz") == http.StatusOK })
	t.Run("lookups", func(t *testing.T) {
		cases := []struct {
			key  string
			code int
		}{
			{id42, 200}, {p42.Mail, 200}, {strings.ToUpper(p42.Mail), 200}, {p42.UID, 200}, {p42.EmployeeNumber, 200},
			{dup.UID, 404},                      // in a conflict: not linked
			{testserver.PersonAt(310).UID, 404}, // a directory person without a Zoom user
			{"*)(uid=*", 404}, {"nobody@example.com", 404},
		}
		for _, tc := range cases {
			t.Run(tc.key, func(t *testing.T) {
				var got helpdesk.Presence
				if code := getJSON(t, base+"/v1/presence/"+tc.key, &got); code != tc.code {
					t.Fatalf("%d, want %d", code, tc.code)
				}
				if tc.code == 200 && (got.ZoomUserID != id42 || got.Directory == nil || got.Directory.UID != p42.UID ||
					got.Directory.DN != p42.DN() || got.Directory.EmployeeNumber != p42.EmployeeNumber) {
					t.Fatalf("answer %+v", got)
				}
			})
		}
	})

	t.Run("email change keeps the link", func(t *testing.T) {
		const newMail = "ada.renamed.42@example.com"
		if _, err := acct.UpdateUser(id42, func(u *zoomfake.User) { u.Email = newMail }); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		ev := acct.UserUpdatedEvent(id42, map[string]any{"email": newMail}, map[string]any{"email": p42.Mail})
		if code, err := acct.Deliver(ctx, base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
			t.Fatalf("webhook: %d %v", code, err)
		}
		var got helpdesk.Presence
		eventually(t, "new email resolves", func() bool { return getJSON(t, base+"/v1/presence/"+newMail, &got) == 200 })
		// The relink runs after the event (debounced): wait for a run that
		// started after the new email was stored.
		eventually(t, "mapping rerun", func() bool {
			var r struct {
				Computed time.Time `json:"computed_at"`
			}
			return getJSON(t, base+"/v1/mapping/report", &r) == 200 && r.Computed.After(sent)
		})
		// The read model reloads within seconds of the publication.
		eventually(t, "the read model has the new email", func() bool {
			return getJSON(t, base+"/v1/presence/"+p42.UID, &got) == 200 && got.Email == newMail
		})
		if got.Directory == nil || got.Directory.UID != p42.UID {
			t.Fatalf("by uid after the email change: %+v", got)
		}
		if getJSON(t, base+"/v1/mapping/report", &rep); rep.Counts["matched"] != 299 || rep.Counts["unmatched_users"] != 0 {
			t.Fatalf("after the email change: %v", rep.Counts)
		}
	})

	t.Run("directory down changes nothing", func(t *testing.T) {
		slapd.Stop()
		var run struct {
			RunID string `json:"run_id"`
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/resync", nil)
		req.Header.Set("Authorization", "Bearer "+apiToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&run)
		resp.Body.Close()
		eventually(t, "a failed directory read after the resync", func() bool {
			b := metricsText(t, base)
			return strings.Contains(b, `zoomsync_directory_reads_total{result="failed"}`)
		})
		if getJSON(t, base+"/v1/mapping/report", &rep); rep.Counts["matched"] != 299 || rep.Counts["entries"] != 321 {
			t.Fatalf("after a failed read: %v", rep.Counts)
		}
		var got helpdesk.Presence
		if code := getJSON(t, base+"/v1/presence/"+p42.UID, &got); code != 200 || got.Directory == nil {
			t.Fatalf("link lost while the directory is down: %d %+v", code, got)
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func metricsText(t testing.TB, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
