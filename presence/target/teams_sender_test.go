package target_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/graphapi/graphfake"
	"github.com/zoomsync/zoomsync/presence/target"
)

// bearerRecorder records the access tokens sent, to look for them in logs.
type bearerRecorder struct {
	mu     sync.Mutex
	tokens map[string]bool
}

func (b *bearerRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		b.mu.Lock()
		b.tokens[v] = true
		b.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestTeamsCredentialsThroughTheSender: through the sender, as serve runs
// it, an expired token is replaced without a failure; revoked consent
// (403) and a secret no longer valid (401) are dead-lettered at once with
// what to fix and counted by OnAuthFailure (zoomsync_target_auth_failures_total);
// an unknown user is dead-lettered once with what was tried and skipped
// after, and is no auth failure; no secret or token reaches the log.
func TestTeamsCredentialsThroughTheSender(t *testing.T) {
	const app, secret, rotated = "22553876-f5ab-4529-bffb-cfe50aa89f87", "graph-secret-value~sender", "rotated~by-an-admin"
	g, err := graphfake.Start(graphfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	tenant := g.AddTenant("contoso.onmicrosoft.com")
	tenant.AddApp(graphfake.AppSpec{ClientID: app, Secret: secret, Roles: []string{graphfake.PresenceReadWriteAll, graphfake.UserReadAll}})
	tenant.AddUser(graphfake.UserSpec{ID: "0b1ec701-0000-4000-8000-000000000001", UserPrincipalName: "u1@example.com", Mail: "u1@example.com"})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := target.ParseConfig(json.RawMessage(fmt.Sprintf(`{"name":"teams","type":"teams","tenant_id":"contoso.onmicrosoft.com","client_id":%q,"client_secret_file":%q,"graph_url":%q,"login_url":%q}`,
		app, secretFile, g.GraphURL(), g.LoginURL())))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	bearers := &bearerRecorder{tokens: map[string]bool{}}
	var mu sync.Mutex
	authFailures := 0
	r := newRigWith(t, target.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient: &http.Client{Transport: bearers, Timeout: 5 * time.Second},
		OnAuthFailure: func(name string) {
			mu.Lock()
			authFailures++
			mu.Unlock()
		}}, c)
	failures := func() int { mu.Lock(); defer mu.Unlock(); return authFailures }
	shows := func(want string) func() bool {
		return func() bool {
			s, ok := tenant.AppSession("0b1ec701-0000-4000-8000-000000000001", app)
			return ok && s.Availability+"/"+s.Activity == want
		}
	}
	deadCount := func() int {
		n := 0
		for _, k := range r.rdb.Keys(t.Context(), "*:outdead:teams").Val() {
			n += int(r.rdb.XLen(t.Context(), k).Val())
		}
		return n
	}

	r.set(t, "A", "u1", "on_call")
	waitUntil(t, "on_call in Teams", shows("Busy/InACall"))

	// The token expires (Graph answers 401 to it): a new one is fetched
	// and the push goes through; nothing is reported.
	grants := g.Stats().TokenGrants
	g.ExpireTokens()
	r.set(t, "A", "u1", "in_meeting")
	waitUntil(t, "in_meeting in Teams after the token expired", shows("Busy/InAConferenceCall"))
	if g.Stats().TokenGrants != grants+1 || failures() != 0 {
		t.Fatalf("token expiry: %d new grants, %d auth failures", g.Stats().TokenGrants-grants, failures())
	}

	// Consent revoked: the next token lacks the permission, Graph answers
	// 403: dead-lettered at once with what to fix, and counted.
	tenant.SetConsent(app)
	g.ExpireTokens()
	r.set(t, "A", "u1", "on_call")
	reasons := r.deadLetters(t, "teams")
	if !strings.Contains(reasons[0], "403") || !strings.Contains(reasons[0], "Presence.ReadWrite.All") {
		t.Fatalf("revoked consent's dead letter: %q", reasons[0])
	}
	waitUntil(t, "the auth failure counted", func() bool { return failures() == 1 })

	// The secret is no longer valid (rotated at Entra): the token
	// endpoint's 401 invalid_client, the same treatment.
	tenant.SetConsent(app, graphfake.PresenceReadWriteAll, graphfake.UserReadAll)
	tenant.SetSecret(app, rotated)
	g.ExpireTokens()
	r.set(t, "A", "u1", "in_meeting")
	waitUntil(t, "the wrong secret dead-lettered and counted", func() bool { return deadCount() == 2 && failures() == 2 })

	// The new secret written to the file is used at the next fetch.
	if err := os.WriteFile(secretFile, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	r.set(t, "A", "u1", "presenting")
	waitUntil(t, "presenting after the secret file changed", shows("DoNotDisturb/Presenting"))

	// A Zoom user nobody in Entra ID has: one dead letter naming what was
	// tried, no auth failure; the next change is skipped without a lookup.
	r.set(t, "A", "stranger", "on_call")
	waitUntil(t, "the unknown user dead-lettered", func() bool { return deadCount() == 3 })
	if !strings.Contains(logs.String(), "user not found in Microsoft Entra ID") || !strings.Contains(logs.String(), "userPrincipalName stranger@example.com") {
		t.Fatalf("the unknown user's reason is not logged:\n%s", logs.String())
	}
	users := g.Stats().UserCalls
	r.set(t, "A", "stranger", "in_meeting")
	r.waitSettled(t, "A", "teams", "stranger", 2)
	if g.Stats().UserCalls != users || deadCount() != 3 || failures() != 2 {
		t.Fatalf("the unknown user's next change: %d lookups, %d dead letters, %d auth failures", g.Stats().UserCalls-users, deadCount(), failures())
	}
	// A skip is routine (counted in the pushes' "skipped" result): a debug
	// line, not an INFO line per change of every unknown user.
	if out := logs.String(); strings.Contains(out, `level=INFO msg="push skipped"`) || !strings.Contains(out, `level=DEBUG msg="push skipped"`) {
		t.Fatalf("the skip is not logged at debug level:\n%s", out)
	}

	out := logs.String()
	for _, s := range []string{secret, rotated} {
		if strings.Contains(out, s) {
			t.Fatalf("a client secret is in the log:\n%s", out)
		}
	}
	bearers.mu.Lock()
	defer bearers.mu.Unlock()
	if len(bearers.tokens) < 3 {
		t.Fatalf("%d access tokens seen", len(bearers.tokens))
	}
	for tok := range bearers.tokens {
		if strings.Contains(out, tok) {
			t.Fatalf("an access token is in the log:\n%s", out)
		}
	}
}

// waitUntil polls cond (state another goroutine's pushes change) for up
// to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tk.C:
		case <-deadline:
			t.Fatalf("%s: not within 20s", what)
		}
	}
}
