package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/graphapi"
	"github.com/zoomsync/zoomsync/graphapi/graphfake"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
)

const (
	teamsTenant = "contoso.onmicrosoft.com"
	teamsApp    = "22553876-f5ab-4529-bffb-cfe50aa89f87"
	teamsSecret = "graph-secret-value~1"
)

// teamsWorld is a fake Graph tenant whose users are the test directory's
// Active Directory people (object id, UPN = their Zoom email, immutable
// id from their objectGUID), a Redis, and a clock.
type teamsWorld struct {
	clock  *clockwork.FakeClock
	graph  *graphfake.Server
	tenant *graphfake.Tenant
	rdb    redis.UniversalClient
	secret string // the secret file's path
	auths  []error
	mu     sync.Mutex
}

func teamsObjectID(i int) string { return fmt.Sprintf("0b1ec7%02d-0000-4000-8000-%012d", i%100, i) }

// teamsPushOf is person i's push of a status, linked to their AD entry.
func teamsPushOf(i int, st presence.Status, statusMap map[string]string) Push {
	p := testserver.ADPersonAt(i)
	return Push{Target: "teams", AccountID: "A", ZoomUserID: fmt.Sprintf("zoom%d", i), Email: p.Mail,
		Directory: &Directory{ID: p.GUID, DN: p.DN, UID: p.UID}, Status: st, TargetStatus: statusMap[string(st)], Seq: 1}
}

func newTeamsWorld(t testing.TB, people int, fo graphfake.Options) *teamsWorld {
	t.Helper()
	w := &teamsWorld{clock: clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))}
	fo.Clock = w.clock
	g, err := graphfake.Start(fo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	w.graph = g
	w.tenant = g.AddTenant(teamsTenant)
	w.tenant.AddApp(graphfake.AppSpec{ClientID: teamsApp, Secret: teamsSecret, Roles: []string{graphfake.PresenceReadWriteAll, graphfake.UserReadAll}})
	for i := range people {
		p := testserver.ADPersonAt(i)
		w.tenant.AddUser(graphfake.UserSpec{ID: teamsObjectID(i), UserPrincipalName: p.Mail, Mail: p.Mail, ImmutableID: p.ImmutableID(), DisplayName: p.CN()})
	}
	mr := miniredis.RunT(t)
	w.rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { w.rdb.Close() })
	w.secret = filepath.Join(t.TempDir(), "graph-secret")
	if err := os.WriteFile(w.secret, []byte(teamsSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// entry is a targets-file entry of a teams target against the fake.
func (w *teamsWorld) entry(extra string) json.RawMessage {
	s := fmt.Sprintf(`{"name":"teams","type":"teams","tenant_id":%q,"client_id":%q,"client_secret_file":%q,"graph_url":%q,"login_url":%q%s}`,
		teamsTenant, teamsApp, w.secret, w.graph.GraphURL(), w.graph.LoginURL(), extra)
	return json.RawMessage(s)
}

func (w *teamsWorld) driver(t testing.TB, extra string) (*teams, map[string]string) {
	t.Helper()
	s, m, err := decodeTeams(w.entry(extra))
	if err != nil {
		t.Fatal(err)
	}
	d, err := newTeams("teams", s, m, teamsDeps{Redis: w.rdb, Clock: w.clock, Budget: graphapi.NewLocalBudget(w.clock, -1, 0),
		OnAuth: func(err error) { w.mu.Lock(); w.auths = append(w.auths, err); w.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

func (w *teamsWorld) shows(i int) string {
	p := w.tenant.Presence(teamsObjectID(i))
	return p.Availability + "/" + p.Activity
}

func TestTeamsDecode(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "s")
	_ = os.WriteFile(secretFile, []byte("x"), 0o600)
	base := `"name":"t","type":"teams","tenant_id":"contoso.onmicrosoft.com","client_id":"c"`
	cases := []struct {
		name, json, err string
	}{
		{"the defaults", `{` + base + `,"client_secret_file":"` + secretFile + `"}`, ""},
		{"preferred mode's pairs", `{` + base + `,"client_secret_file":"` + secretFile + `","mode":"preferred","status_map":{"on_call":"Busy/Busy"}}`, ""},
		{"a secret in the file", `{` + base + `,"client_secret":"abc"}`, "client_secret_file"},
		{"no credential", `{` + base + `}`, "exactly one"},
		{"a missing secret file", `{` + base + `,"client_secret_file":"/nonexistent/s"}`, "no such file"},
		{"no tenant", `{"name":"t","type":"teams","client_id":"c","client_secret_file":"` + secretFile + `"}`, "tenant_id"},
		{"Busy/Busy in a session", `{` + base + `,"client_secret_file":"` + secretFile + `","status_map":{"on_call":"Busy/Busy"}}`, "not a pair"},
		{"InAMeeting is Teams' own", `{` + base + `,"client_secret_file":"` + secretFile + `","status_map":{"in_meeting":"Busy/InAMeeting"}}`, "not a pair"},
		{"Available fades", `{` + base + `,"client_secret_file":"` + secretFile + `","status_map":{"available":"Available/Available"}}`, "fades"},
		{"Busy/InACall when preferred", `{` + base + `,"client_secret_file":"` + secretFile + `","mode":"preferred","status_map":{"on_call":"Busy/InACall"}}`, "not a pair"},
		{"an unknown mode", `{` + base + `,"client_secret_file":"` + secretFile + `","mode":"override"}`, "mode"},
		{"expiration over 4h", `{` + base + `,"client_secret_file":"` + secretFile + `","expiration":"5h"}`, "expiration"},
		{"keepalive not before expiration", `{` + base + `,"client_secret_file":"` + secretFile + `","expiration":"30m","keepalive":"30m"}`, "keepalive"},
		{"expiration under 5m", `{` + base + `,"client_secret_file":"` + secretFile + `","expiration":"4m"}`, "expiration"},
		{"an unknown lookup", `{` + base + `,"client_secret_file":"` + secretFile + `","resolve_by":["sam"]}`, "resolve_by"},
		{"over Graph's limit", `{` + base + `,"client_secret_file":"` + secretFile + `","presence_limit":2000}`, "presence_limit"},
		{"a graph_url with a query", `{` + base + `,"client_secret_file":"` + secretFile + `","graph_url":"https://g.example/v1.0?code=secret"}`, "graph_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, m, err := decodeTeams(json.RawMessage(tc.json))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Expiration.Duration != time.Hour || len(s.ResolveBy) != 3 || s.PresenceLimit != 1500 || len(m) == 0 {
					t.Fatalf("defaults %+v %v", s, m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error about %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "code=secret") || strings.Contains(err.Error(), `"abc"`) {
				t.Fatalf("the error quotes a secret: %v", err)
			}
		})
	}
}

func TestTeamsSessionLifecycle(t *testing.T) {
	w := newTeamsWorld(t, 3, graphfake.Options{})
	d, m := w.driver(t, "")
	ctx := context.Background()
	w.tenant.SetClientSession(teamsObjectID(1), "desktop", "Available", "Available")
	steps := []struct {
		status presence.Status
		err    error // nil, or ErrSkip
		shows  string
	}{
		{presence.Available, ErrSkip, "Available/Available"}, // nothing pushed, nothing to clear: no call
		{presence.OnCall, nil, "Busy/InACall"},
		{presence.OnCall, nil, "Busy/InACall"}, // a keep-alive re-post
		{presence.InMeeting, nil, "Busy/InAConferenceCall"},
		{presence.Available, nil, "Available/Available"}, // cleared: the user's own state shows
		{presence.Away, ErrSkip, "Available/Available"},
		{presence.Presenting, nil, "DoNotDisturb/Presenting"},
		{presence.InCalendarEvent, nil, "Available/Available"}, // Teams' own: cleared, not pushed
	}
	for k, s := range steps {
		before := w.graph.Stats().PresenceCalls
		err := d.Push(ctx, teamsPushOf(1, s.status, m))
		if (s.err == nil) != (err == nil) || (s.err != nil && !errors.Is(err, s.err)) {
			t.Fatalf("step %d %s: %v, want %v", k, s.status, err, s.err)
		}
		if got := w.shows(1); got != s.shows {
			t.Fatalf("step %d %s: Teams shows %s, want %s", k, s.status, got, s.shows)
		}
		if s.err != nil && w.graph.Stats().PresenceCalls != before {
			t.Fatalf("step %d: a skipped change made a presence call", k)
		}
	}
	// The session lives as long as the expiration says.
	if err := d.Push(ctx, teamsPushOf(1, presence.OnCall, m)); err != nil {
		t.Fatal(err)
	}
	s, _ := w.tenant.AppSession(teamsObjectID(1), teamsApp)
	if s.Expires.Sub(s.SetAt) != time.Hour {
		t.Fatalf("session for %v", s.Expires.Sub(s.SetAt))
	}
	// A clear after the session expired costs no call.
	w.clock.Advance(time.Hour)
	before := w.graph.Stats().PresenceCalls
	if err := d.Push(ctx, teamsPushOf(1, presence.Available, m)); !errors.Is(err, ErrSkip) || w.graph.Stats().PresenceCalls != before {
		t.Fatalf("clear after expiry: %v", err)
	}
}

func TestTeamsResolution(t *testing.T) {
	w := newTeamsWorld(t, 4, graphfake.Options{})
	d, m := w.driver(t, "")
	ctx := context.Background()
	// Person 0 by immutable id (an AD link); person 1 with no link: by UPN.
	p0, p1 := teamsPushOf(0, presence.OnCall, m), teamsPushOf(1, presence.OnCall, m)
	p1.Directory = nil
	for _, p := range []Push{p0, p1} {
		if err := d.Push(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if w.shows(0) != "Busy/InACall" || w.shows(1) != "Busy/InACall" {
		t.Fatalf("shows %s %s", w.shows(0), w.shows(1))
	}
	// Cached: the next pushes read no user.
	reads := w.graph.Stats().UserCalls
	for _, p := range []Push{p0, p1} {
		p.Status, p.TargetStatus = presence.InMeeting, m[string(presence.InMeeting)]
		if err := d.Push(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.graph.Stats().UserCalls - reads; n != 0 {
		t.Fatalf("%d user reads for cached users", n)
	}
	// A changed link is resolved again: person 0's Zoom user is now linked
	// to person 2's entry.
	moved := p0
	moved.Directory = teamsPushOf(2, presence.OnCall, m).Directory
	moved.Email = teamsPushOf(2, presence.OnCall, m).Email
	if err := d.Push(ctx, moved); err != nil || w.shows(2) != "Busy/InACall" {
		t.Fatalf("after the link changed: %v, person 2 shows %s", err, w.shows(2))
	}
	// The byte-order trap: an immutable id from the GUID string's
	// RFC-4122 bytes finds nobody, so that lookup must not be what found
	// person 2.
	if got, _ := graphapi.ImmutableID(moved.Directory.ID); got != testserver.ADPersonAt(2).ImmutableID() {
		t.Fatalf("immutable id %s", got)
	}
}

func TestTeamsUnknownUser(t *testing.T) {
	w := newTeamsWorld(t, 2, graphfake.Options{})
	d, m := w.driver(t, `,"unresolved_retry":"6h"`)
	ctx := context.Background()
	stranger := teamsPushOf(50, presence.OnCall, m) // not in the tenant
	err := d.Push(ctx, stranger)
	if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "onPremisesImmutableId") || !strings.Contains(err.Error(), "mail "+stranger.Email) {
		t.Fatalf("first push: %v, want Invalid naming what was tried", err)
	}
	// Not retried for ever: later changes are skipped without a lookup.
	reads := w.graph.Stats().UserCalls
	if err := d.Push(ctx, stranger); !errors.Is(err, ErrSkip) || w.graph.Stats().UserCalls != reads {
		t.Fatalf("second push: %v, %d reads", err, w.graph.Stats().UserCalls-reads)
	}
	// After unresolved_retry it is looked up again, and found once the
	// account exists.
	p := testserver.ADPersonAt(50)
	w.tenant.AddUser(graphfake.UserSpec{ID: teamsObjectID(50), UserPrincipalName: p.Mail, Mail: p.Mail, ImmutableID: p.ImmutableID()})
	w.clock.Advance(6 * time.Hour)
	if err := d.Push(ctx, stranger); err != nil || w.shows(50) != "Busy/InACall" {
		t.Fatalf("after the retry time: %v, shows %s", err, w.shows(50))
	}
	// A user deleted from Entra: the 404 is Invalid and the id is
	// forgotten, so a recreated account is found by the next change.
	w.tenant.RemoveUser(teamsObjectID(50))
	if err := d.Push(ctx, stranger); !errs.Is(errs.Invalid, err) {
		t.Fatalf("deleted user: %v", err)
	}
	w.tenant.AddUser(graphfake.UserSpec{ID: "0b1ec7ff-0000-4000-8000-000000000050", UserPrincipalName: p.Mail, Mail: p.Mail, ImmutableID: p.ImmutableID()})
	if err := d.Push(ctx, stranger); err != nil {
		t.Fatalf("recreated user: %v", err)
	}
	if s, ok := w.tenant.AppSession("0b1ec7ff-0000-4000-8000-000000000050", teamsApp); !ok || s.Activity != "InACall" {
		t.Fatalf("recreated user's session %v %v", s, ok)
	}
}

func TestTeamsAuthFailures(t *testing.T) {
	w := newTeamsWorld(t, 2, graphfake.Options{})
	d, m := w.driver(t, "")
	ctx := context.Background()
	if err := d.Push(ctx, teamsPushOf(0, presence.OnCall, m)); err != nil {
		t.Fatal(err)
	}
	// Consent revoked: once the token in hand expires, 403: Auth, with
	// what to check, reported to OnAuth.
	w.tenant.SetConsent(teamsApp)
	w.clock.Advance(time.Hour)
	err := d.Push(ctx, teamsPushOf(0, presence.InMeeting, m))
	if !errs.Is(errs.Auth, err) || !strings.Contains(err.Error(), "Presence.ReadWrite.All") || len(w.auths) != 1 {
		t.Fatalf("revoked consent: %v (%d reported)", err, len(w.auths))
	}
	// A secret that is no longer valid: the token endpoint's 401, Auth,
	// and the secret appears nowhere.
	w.tenant.SetConsent(teamsApp, graphfake.PresenceReadWriteAll, graphfake.UserReadAll)
	w.tenant.SetSecret(teamsApp, "rotated-by-someone")
	w.graph.ExpireTokens()
	err = d.Push(ctx, teamsPushOf(0, presence.InMeeting, m))
	if !errs.Is(errs.Auth, err) || strings.Contains(err.Error(), teamsSecret) || len(w.auths) != 2 {
		t.Fatalf("wrong secret: %v", err)
	}
	// The new secret in the file is used without a restart.
	if err := os.WriteFile(w.secret, []byte("rotated-by-someone"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Push(ctx, teamsPushOf(0, presence.InMeeting, m)); err != nil {
		t.Fatalf("after the secret file changed: %v", err)
	}
}

func TestTeamsOutageKeepsWhatToClear(t *testing.T) {
	w := newTeamsWorld(t, 2, graphfake.Options{})
	d, m := w.driver(t, "")
	ctx := context.Background()
	if err := d.Push(ctx, teamsPushOf(0, presence.OnCall, m)); err != nil { // resolves and sets
		t.Fatal(err)
	}
	if err := d.Push(ctx, teamsPushOf(0, presence.Available, m)); err != nil {
		t.Fatal(err)
	}
	// Graph answers 503 to a set: retryable; the state says a session may
	// exist, so the next unmapped status clears it (404 there: already
	// clear, done) rather than skipping.
	w.graph.SetFaults(graphfake.Faults{GraphDown: true})
	if err := d.Push(ctx, teamsPushOf(0, presence.OnCall, m)); !errs.Retryable(err) {
		t.Fatalf("outage: %v", err)
	}
	w.graph.SetFaults(graphfake.Faults{})
	w.clock.Advance(5 * time.Second) // the outage's hold on presence calls
	before := w.graph.Stats().PresenceCalls
	if err := d.Push(ctx, teamsPushOf(0, presence.Available, m)); err != nil || w.graph.Stats().PresenceCalls != before+1 {
		t.Fatalf("clear after a failed set: %v (%d calls)", err, w.graph.Stats().PresenceCalls-before)
	}
}

func TestTeamsPreferredMode(t *testing.T) {
	w := newTeamsWorld(t, 1, graphfake.Options{})
	d, m := w.driver(t, `,"mode":"preferred"`)
	ctx := context.Background()
	w.tenant.SetClientSession(teamsObjectID(0), "desktop", "Available", "Available")
	if err := d.Push(ctx, teamsPushOf(0, presence.OnCall, m)); err != nil || w.shows(0) != "Busy/Busy" {
		t.Fatalf("preferred: %v, shows %s", err, w.shows(0))
	}
	// It overrides what the user picks (that is why it is opt-in).
	if err := d.Push(ctx, teamsPushOf(0, presence.Available, m)); err != nil || w.shows(0) != "Available/Available" {
		t.Fatalf("cleared: %v, shows %s", err, w.shows(0))
	}
}

func TestTeamsBatch(t *testing.T) {
	w := newTeamsWorld(t, 45, graphfake.Options{})
	d, m := w.driver(t, "")
	ctx := context.Background()
	var ps []Push
	for i := range 45 {
		ps = append(ps, teamsPushOf(i, presence.InMeeting, m))
	}
	before := w.graph.Stats()
	for i, err := range d.PushBatch(ctx, ps) {
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	after := w.graph.Stats()
	// 45 lookups and 45 sets, 20 to a $batch: 3 + 3 requests.
	if n := after.GraphRequests - before.GraphRequests; n != 6 {
		t.Fatalf("%d requests, want 6", n)
	}
	if w.tenant.AppSessions() != 45 {
		t.Fatalf("%d sessions", w.tenant.AppSessions())
	}
}

// TestTeamsKeepAliveFollowsExpiration: a target's expiration sets its
// re-post interval (3/4 of it) unless keepalive is given; before, a
// 30-minute expiration was refused for want of a keepalive.
func TestTeamsKeepAliveFollowsExpiration(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "s")
	_ = os.WriteFile(secretFile, []byte("x"), 0o600)
	for _, tc := range []struct {
		extra string
		want  time.Duration
	}{
		{``, 45 * time.Minute},
		{`,"expiration":"30m"`, 22*time.Minute + 30*time.Second},
		{`,"expiration":"4h","keepalive":"1h"`, time.Hour},
	} {
		c, err := ParseConfig(json.RawMessage(`{"name":"t","type":"teams","tenant_id":"contoso.onmicrosoft.com","client_id":"c","client_secret_file":"` + secretFile + `"` + tc.extra + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.extra, err)
		}
		if got := newConfigured(c, TraitsOf(TypeTeams), nil).keepAlive; got != tc.want {
			t.Errorf("%s: keepalive %s, want %s", tc.extra, got, tc.want)
		}
		if c.DeadAfter.Duration != 4*time.Hour {
			t.Errorf("%s: dead_after %s, want the type's 4h", tc.extra, c.DeadAfter.Duration)
		}
	}
}
