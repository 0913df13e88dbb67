package app

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// operationsADConfig reads the Active Directory configuration of
// docs/OPERATIONS.md (the sh block after its tested-ad-config marker), so
// what operators copy is what this test runs.
func operationsADConfig(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	state := 0 // 0: before the marker, 1: before the block, 2: in it
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case state == 0 && strings.Contains(line, "<!-- tested-ad-config"):
			state = 1
		case state == 1 && line == "```sh":
			state = 2
		case state == 2 && line == "```":
			return env
		case state == 2:
			k, v, ok := strings.Cut(line, "=")
			if !ok || !(strings.HasPrefix(k, "LDAP_") || k == "ZOOMSYNC_MATCH_RULES") {
				t.Fatalf("OPERATIONS.md AD block: unexpected line %q", line)
			}
			env[k] = v
		}
	}
	t.Fatal("docs/OPERATIONS.md has no tested-ad-config block")
	return nil
}

// TestServeMapsADPeople runs serve against a Samba AD DC and redis-server
// with the Active Directory configuration of docs/OPERATIONS.md (only the
// host, CA file, domain and password replaced): LDAP_BASE_DN at the domain
// root (AD also answers with a search continuation reference), members of
// "Zoom Users" through a nested group, StartTLS with the DC's CA, a UPN
// bind. 2,000 AD people (a tenth under CN=Users, the rest in department
// OUs under OU=Staff; 100 more outside the group) against 2,000 Zoom
// users: every member is read and linked by objectGUID, and the report's
// counts are exactly what the test data says, disabled and expired
// accounts of active Zoom users as disabled_active.
func TestServeMapsADPeople(t *testing.T) {
	const members, outside = 2000, 100
	var ldif strings.Builder
	ldif.WriteString("dn: CN=Zoom Users - Staff," + testserver.ADGroupsDN + "\nobjectClass: group\n")
	for i := 1; i < members; i++ {
		fmt.Fprintf(&ldif, "member: %s\n", testserver.ADPersonAt(i).DN)
	}
	fmt.Fprintf(&ldif, "\ndn: CN=Zoom Users,%s\nobjectClass: group\nmember: CN=Zoom Users - Staff,%s\nmember: %s\n",
		testserver.ADGroupsDN, testserver.ADGroupsDN, testserver.ADPersonAt(members).DN)
	start := time.Now()
	dc := testserver.StartSamba(t, testserver.SambaOptions{Users: members + outside, LDIF: ldif.String()})
	t.Logf("Samba AD DC ready in %v", time.Since(start).Round(time.Millisecond))
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, _ := startFake(t, members)

	env := serveEnv(fake, r.URL(), "127.0.0.1:0")
	env["ZOOMSYNC_API_TOKENS"] = apiToken
	replace := strings.NewReplacer("dc1.corp.example.com", dc.Addr, "/etc/zoomsync/ldap-ca/corp-root.pem", dc.TLS.CAFile,
		"svc-zoomsync@corp.example.com", testserver.ADServiceUPN, "…", testserver.ADServicePassword,
		"DC=corp,DC=example,DC=com", testserver.ADBaseDN)
	for k, v := range operationsADConfig(t) {
		env[k] = replace.Replace(v)
	}
	if env["LDAP_BASE_DN"] != testserver.ADBaseDN || env["LDAP_GROUP_DN"] == "" || env["LDAP_START_TLS"] != "true" {
		t.Fatalf("the documented configuration changed: %v", env)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startServe(ctx, loadConfig(t, env), "r1")
	if base == "" {
		t.Fatal(<-done)
	}

	wantDisabled := map[string]bool{}
	for i := 1; i <= members; i++ {
		if testserver.ADPersonAt(i).Disabled() && !zoomfake.IsPending(i) && !zoomfake.IsInactive(i) {
			wantDisabled[zoomfake.EmailOf(i)] = true
		}
	}
	mapStart := time.Now()
	var rep reportCounts
	eventually(t, "mapping report", func() bool {
		return getJSON(t, base+"/v1/mapping/report", &rep) == 200 && rep.Counts["matched"] == members
	})
	want := map[string]int{"users": members, "entries": members, "matched": members, "unmatched_users": 0,
		"unmatched_entries": 0, "conflicts": 0, "disabled_active": len(wantDisabled)}
	for k, v := range want {
		if rep.Counts[k] != v {
			t.Errorf("report %s = %d, want %d (%v)", k, rep.Counts[k], v, rep.Counts)
		}
	}
	var disabled struct {
		DisabledActive struct {
			Items []struct {
				User struct {
					Email string `json:"email"`
				} `json:"user"`
				DN string `json:"dn"`
			} `json:"items"`
		} `json:"disabled_active"`
	}
	getJSON(t, base+"/v1/mapping/report?category=disabled_active&limit=1000", &disabled)
	var got []string
	for _, it := range disabled.DisabledActive.Items {
		got = append(got, it.User.Email)
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(func(yield func(string) bool) {
		for e := range wantDisabled {
			if !yield(e) {
				return
			}
		}
	})) {
		t.Errorf("disabled_active %d users, want %d: %q", len(got), len(wantDisabled), got)
	}

	t.Logf("mapped in %v", time.Since(mapStart).Round(time.Millisecond))
	// Every link is keyed by the entry's objectGUID.
	for i := 1; i <= members; i++ {
		p := testserver.ADPersonAt(i)
		var u struct {
			Directory map[string]string `json:"directory"`
		}
		if code := getJSON(t, base+"/v1/users/"+zoomfake.EmailOf(i), &u); code != 200 || u.Directory["id"] != p.GUID ||
			u.Directory["dn"] != p.DN || u.Directory["rule"] != "email=mail" {
			t.Fatalf("user %d: %d %v, want id %s dn %s", i, code, u.Directory, p.GUID, p.DN)
		}
	}
	// Helpdesk lookups by AD's keys: sAMAccountName and employeeID.
	p := testserver.ADPersonAt(42)
	// Lookups are answered by the read model, which a ready replica's
	// holds the mapping's links.
	eventually(t, "ready", func() bool { return status(base+"/readyz") == 200 })
	for _, key := range []string{p.SAM, p.EmployeeNumber} {
		var pv helpdesk.Presence
		if code := getJSON(t, base+"/v1/presence/"+key, &pv); code != 200 || pv.Directory == nil || pv.Directory.DN != p.DN {
			t.Errorf("lookup by %s: %d %+v", key, code, pv)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
