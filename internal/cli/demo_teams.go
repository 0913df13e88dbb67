package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/zoomsync/zoomsync/graphapi/graphfake"
	"github.com/zoomsync/zoomsync/internal/people"
)

// demoTeamsApp is the simulated app registration's client id.
const demoTeamsApp = "5f1c2a7e-0d4b-4c8e-9a51-7b3e2d6f0c19"

// startDemoTeams starts a simulated Microsoft Graph tenant whose users are
// the demo's people (found by their email as userPrincipalName), and
// returns the targets-file entry of a teams target against it. Every
// presence action Graph accepts is printed.
func startDemoTeams(out io.Writer, dir string, n int) (*graphfake.Server, map[string]any, error) {
	g, err := graphfake.Start(graphfake.Options{OnPresence: func(e graphfake.PresenceEvent) {
		state := e.Availability + "/" + e.Activity
		if e.Action == "clearPresence" {
			state = "(the user's own Teams state again)"
		}
		fmt.Fprintf(out, "%s  %-10s %-34s %-48s\n", e.At.Format("15:04:05"), "teams", e.Action, e.User+" "+state)
	}})
	if err != nil {
		return nil, nil, fmt.Errorf("demo: starting the simulated Microsoft Graph: %w", err)
	}
	tenant := g.AddTenant("demo.onmicrosoft.com")
	secret := randomToken()
	tenant.AddApp(graphfake.AppSpec{ClientID: demoTeamsApp, Secret: secret, Roles: []string{graphfake.PresenceReadWriteAll, graphfake.UserReadAll}})
	for i := 1; i <= n; i++ {
		p := people.At(i)
		tenant.AddUser(graphfake.UserSpec{ID: fmt.Sprintf("0de70000-0000-4000-8000-%012d", i), UserPrincipalName: p.Mail, Mail: p.Mail, DisplayName: p.CN()})
		// Each person has Teams open: what they see is the aggregate of
		// their client and zoomsync's session.
		tenant.SetClientSession(fmt.Sprintf("0de70000-0000-4000-8000-%012d", i), "desktop", "Available", "Available")
	}
	secretFile := filepath.Join(dir, "graph-client-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		g.Close()
		return nil, nil, err
	}
	entry := map[string]any{"name": "demo-teams", "type": "teams", "tenant_id": "demo.onmicrosoft.com", "client_id": demoTeamsApp,
		"client_secret_file": secretFile, "graph_url": g.GraphURL(), "login_url": g.LoginURL(), "resolve_by": []string{"upn", "mail"},
		"timeout": (10 * time.Second).String()}
	fmt.Fprintf(out, "demo target \"demo-teams\" (a simulated Microsoft Graph tenant, %d users with Teams open; calls and meetings set the app's presence session, their end clears it): %s\n",
		n, g.GraphURL())
	return g, entry, nil
}

// withTarget appends a targets-file entry to a JSON array of entries.
func withTarget(targets []byte, entry map[string]any) ([]byte, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(targets, &list); err != nil {
		return nil, err
	}
	b, err := json.Marshal(entry)
	if err != nil {
		return nil, err
	}
	return json.Marshal(append(list, b))
}
