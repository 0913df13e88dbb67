package graphapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/graphapi/graphfake"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

const (
	tenantID  = "contoso.onmicrosoft.com"
	clientID  = "22553876-f5ab-4529-bffb-cfe50aa89f87"
	theSecret = "Xy7~q.secret+/=value"
)

type env struct {
	clock  *clockwork.FakeClock
	fake   *graphfake.Server
	tenant *graphfake.Tenant
	users  []string // object ids
}

func newEnv(t *testing.T, fo graphfake.Options, nUsers int) *env {
	t.Helper()
	e := &env{clock: clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))}
	fo.Clock, fo.Wrap = e.clock, contract.Handler
	fakesStarted.Add(1)
	fake, err := graphfake.Start(fo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	e.fake = fake
	e.tenant = fake.AddTenant(tenantID)
	e.tenant.AddApp(graphfake.AppSpec{ClientID: clientID, Secret: theSecret, Roles: []string{graphfake.PresenceReadWriteAll, graphfake.UserReadAll}})
	for i := range nUsers {
		id := fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", i)
		e.tenant.AddUser(graphfake.UserSpec{ID: id, UserPrincipalName: fmt.Sprintf("u%d@contoso.test", i), Mail: fmt.Sprintf("user.%d@contoso.test", i)})
		e.users = append(e.users, id)
	}
	return e
}

func (e *env) client(t *testing.T, creds Credentials, opts ...Option) *Client {
	t.Helper()
	if creds.TenantID == "" {
		creds.TenantID, creds.ClientID = tenantID, clientID
	}
	if creds.Secret == nil && creds.Certificate == nil {
		creds.Secret = func() (secret.Secret, error) { return secret.New(theSecret), nil }
	}
	opts = append([]Option{WithGraphURL(e.fake.GraphURL()), WithLoginURL(e.fake.LoginURL()), WithClock(e.clock),
		WithBudget(NewLocalBudget(e.clock, -1, 0))}, opts...)
	c, err := New(creds, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var ctx = context.Background()

var busy = Pair{"Busy", "InACall"}

func TestSetAndClearPresence(t *testing.T) {
	e := newEnv(t, graphfake.Options{}, 2)
	c := e.client(t, Credentials{})
	u := e.users[0]
	if err := c.SetPresence(ctx, u, busy, time.Hour); err != nil {
		t.Fatal(err)
	}
	s, ok := e.tenant.AppSession(u, clientID)
	if !ok || s.Availability != "Busy" || s.Activity != "InACall" || s.Expires.Sub(s.SetAt) != time.Hour {
		t.Fatalf("session %+v %v", s, ok)
	}
	p, err := c.GetPresence(ctx, u)
	if err != nil || p.Availability != "Busy" {
		t.Fatalf("presence %+v %v", p, err)
	}
	for i := range 2 { // the second clear finds no session: 404, already clear
		if err := c.ClearPresence(ctx, u); err != nil {
			t.Fatalf("clear %d: %v", i, err)
		}
	}
	if _, ok := e.tenant.AppSession(u, clientID); ok {
		t.Fatal("session still there")
	}
	if err := c.SetPresence(ctx, "aaaaaaaa-ffff-0000-0000-000000000000", busy, time.Hour); !errs.Is(errs.NotFound, err) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := c.SetPresenceCall(u, Pair{"Busy", "Busy"}, time.Hour); !errs.Is(errs.Invalid, err) {
		t.Fatalf("Busy/Busy: %v", err)
	}
	if _, err := c.SetPresenceCall(u, busy, 4*time.Hour+time.Second); !errs.Is(errs.Invalid, err) {
		t.Fatalf("over PT4H: %v", err)
	}
}

func TestISODuration(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "PT5M", time.Hour: "PT1H", 90 * time.Minute: "PT1H30M",
		4 * time.Hour: "PT4H", 61 * time.Second: "PT1M1S", 0: "PT0S"} {
		if got := isoDuration(d); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
}

// selfSigned writes a certificate and its key as one PEM file.
func selfSigned(t *testing.T) (*x509.Certificate, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "zoomsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pk8, _ := x509.MarshalPKCS8PrivateKey(key)
	var b bytes.Buffer
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: pk8})
	path := filepath.Join(t.TempDir(), "graph.pem")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

func TestCertificateCredential(t *testing.T) {
	e := newEnv(t, graphfake.Options{}, 1)
	cert, path := selfSigned(t)
	const certApp = "33333333-aaaa-bbbb-cccc-dddddddddddd"
	e.tenant.AddApp(graphfake.AppSpec{ClientID: certApp, Certificate: cert, Roles: []string{graphfake.PresenceReadWriteAll}})
	c, err := LoadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := e.client(t, Credentials{TenantID: tenantID, ClientID: certApp, Certificate: c})
	if err := cl.SetPresence(ctx, e.users[0], busy, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Another certificate is refused: Auth.
	other, otherPath := selfSigned(t)
	_ = other
	c2, _ := LoadCertificate(otherPath)
	cl2 := e.client(t, Credentials{TenantID: tenantID, ClientID: certApp, Certificate: c2})
	if err := cl2.SetPresence(ctx, e.users[0], busy, time.Hour); !errs.Is(errs.Auth, err) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("unregistered certificate: %v", err)
	}
	if _, err := ParseCertificate([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
		t.Fatal("a broken PEM parsed")
	}
}

func TestTokenLifecycle(t *testing.T) {
	e := newEnv(t, graphfake.Options{TokenTTL: time.Hour}, 1)
	var fetches []error
	var mu sync.Mutex
	c := e.client(t, Credentials{}, WithOnToken(func(err error) { mu.Lock(); fetches = append(fetches, err); mu.Unlock() }))
	u := e.users[0]
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.SetPresence(ctx, u, busy, time.Hour) }()
	}
	wg.Wait()
	if n := e.fake.Stats().TokenGrants; n != 1 {
		t.Fatalf("10 concurrent calls fetched %d tokens, want 1", n)
	}
	// Five minutes before expiry the token is replaced.
	e.clock.Advance(55*time.Minute + time.Second)
	if err := c.SetPresence(ctx, u, busy, time.Hour); err != nil || e.fake.Stats().TokenGrants != 2 {
		t.Fatalf("near expiry: %v, %d grants", err, e.fake.Stats().TokenGrants)
	}
	// A token Graph no longer takes (401) is fetched again and the call
	// repeated once.
	e.fake.ExpireTokens()
	if err := c.SetPresence(ctx, u, busy, time.Hour); err != nil || e.fake.Stats().TokenGrants != 3 {
		t.Fatalf("after a 401: %v, %d grants", err, e.fake.Stats().TokenGrants)
	}
	// Consent revoked: the next token has no permission: 403, Auth.
	e.tenant.SetConsent(clientID)
	e.fake.ExpireTokens()
	err := c.SetPresence(ctx, u, busy, time.Hour)
	var ge *Error
	if !errs.Is(errs.Auth, err) || !asError(err, &ge) || ge.Status != 403 || ge.RequestID == "" {
		t.Fatalf("revoked consent: %v", err)
	}
	// A wrong secret: the token endpoint's 401 is Auth, without the secret.
	e.tenant.SetSecret(clientID, "rotated")
	e.fake.ExpireTokens()
	err = c.SetPresence(ctx, u, busy, time.Hour)
	if !errs.Is(errs.Auth, err) || strings.Contains(err.Error(), theSecret) || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("wrong secret: %v", err)
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestSecretFileRotation(t *testing.T) {
	e := newEnv(t, graphfake.Options{}, 1)
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(theSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := e.client(t, Credentials{TenantID: tenantID, ClientID: clientID, Secret: SecretFile(path)})
	if err := c.SetPresence(ctx, e.users[0], busy, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.tenant.SetSecret(clientID, "the-new-one")
	if err := os.WriteFile(path, []byte("the-new-one"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.fake.ExpireTokens()
	if err := c.SetPresence(ctx, e.users[0], busy, time.Hour); err != nil {
		t.Fatalf("after the file changed: %v", err)
	}
	os.Remove(path)
	e.fake.ExpireTokens()
	if err := c.SetPresence(ctx, e.users[0], busy, time.Hour); !errs.Is(errs.Auth, err) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestNoSecretInLogsOrErrors(t *testing.T) {
	var logs bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	creds := Credentials{TenantID: tenantID, ClientID: clientID, Secret: func() (secret.Secret, error) { return secret.New(theSecret), nil }}
	l.Info("graph", slog.Any("creds", creds))
	out := logs.String() + fmt.Sprint(creds) + fmt.Sprintf("%+v", creds)
	if strings.Contains(out, theSecret) {
		t.Fatalf("the secret leaked: %s", out)
	}
}

func TestBatch(t *testing.T) {
	e := newEnv(t, graphfake.Options{}, 45)
	c := e.client(t, Credentials{})
	calls := make([]*Call, 0, 46)
	for _, u := range e.users {
		call, _ := c.SetPresenceCall(u, busy, time.Hour)
		calls = append(calls, call)
	}
	calls = append(calls, c.ClearPresenceCall("aaaaaaaa-ffff-0000-0000-000000000000")) // 404: already clear
	before := e.fake.Stats()
	res := c.DoBatch(ctx, calls)
	for i, err := range res {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	after := e.fake.Stats()
	if got := after.GraphRequests - before.GraphRequests; got != 3 {
		t.Fatalf("46 calls took %d requests, want 3 batches", got)
	}
	if e.tenant.AppSessions() != 45 {
		t.Fatalf("%d sessions, want 45", e.tenant.AppSessions())
	}
	// Per-call errors: an unknown user is NotFound, the others succeed.
	calls = calls[:3]
	calls[1], _ = c.SetPresenceCall("aaaaaaaa-ffff-0000-0000-000000000000", busy, time.Hour)
	res = c.DoBatch(ctx, calls)
	if res[0] != nil || !errs.Is(errs.NotFound, res[1]) || res[2] != nil {
		t.Fatalf("errors %v", res)
	}
}

func TestBatchInnerThrottling(t *testing.T) {
	// A limit of 5 per 30 s: a batch of 8 gets 3 inner 429s. Retry-After
	// is beyond the inline wait, so they come back RateLimited with the
	// time, and the budget is held until then.
	e := newEnv(t, graphfake.Options{PresenceLimit: 5}, 8)
	budget := NewLocalBudget(e.clock, -1, 0)
	c := e.client(t, Credentials{}, WithBudget(budget), WithMaxInlineWait(time.Second))
	var calls []*Call
	for _, u := range e.users {
		call, _ := c.SetPresenceCall(u, busy, time.Hour)
		calls = append(calls, call)
	}
	res := c.DoBatch(ctx, calls)
	ok, limited := 0, 0
	for _, err := range res {
		switch {
		case err == nil:
			ok++
		case errs.Is(errs.RateLimited, err) && errs.RetryAt(err).Sub(e.clock.Now()) == 30*time.Second:
			limited++
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if ok != 5 || limited != 3 {
		t.Fatalf("%d ok, %d limited", ok, limited)
	}
	if budget.heldUntil.Sub(e.clock.Now()) != 30*time.Second {
		t.Fatalf("budget held until %v", budget.heldUntil)
	}
}

func TestBatchRetriesWithinTheInlineWait(t *testing.T) {
	e := newEnv(t, graphfake.Options{PresenceLimit: 2, PresenceWindow: 2 * time.Second}, 3)
	c := e.client(t, Credentials{}, WithMaxInlineWait(5*time.Second))
	var calls []*Call
	for _, u := range e.users {
		call, _ := c.SetPresenceCall(u, busy, time.Hour)
		calls = append(calls, call)
	}
	done := make(chan []error)
	go func() { done <- c.DoBatch(ctx, calls) }()
	// The third call's 429 says 2 s: the client waits on its clock and sends it again.
	if err := e.clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	for i, err := range <-done {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// stubGraph answers $batch with canned inner answers, for what the fake
// never does on its own (a 424 without dependsOn, a missing answer).
func TestBatchAnswersTheFakeDoesNotGive(t *testing.T) {
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"t"}`)
			return
		}
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if first { // 1: 424; 2: ok; 3: missing; 4: an id we never sent
			fmt.Fprint(w, `{"responses":[{"id":"2","status":200},{"id":"1","status":424,"body":{"error":{"code":"FailedDependency","message":"x"}}},{"id":"99","status":200}]}`)
			return
		}
		fmt.Fprint(w, `{"responses":[{"id":"1","status":200}]}`)
	}))
	defer srv.Close()
	c, err := New(Credentials{TenantID: "t", ClientID: "c", Secret: func() (secret.Secret, error) { return secret.New("s"), nil }},
		WithGraphURL(srv.URL+"/v1.0"), WithLoginURL(srv.URL), WithBudget(NewLocalBudget(clockwork.NewRealClock(), -1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	calls := []*Call{c.ClearPresenceCall("a"), c.ClearPresenceCall("b"), c.ClearPresenceCall("c")}
	res := c.DoBatch(ctx, calls)
	if res[0] != nil || res[1] != nil || !errs.Is(errs.Transient, res[2]) {
		t.Fatalf("got %v: want the 424 sent again and done, the missing answer Transient", res)
	}
}

func TestGraphDown(t *testing.T) {
	e := newEnv(t, graphfake.Options{}, 3)
	budget := NewLocalBudget(e.clock, -1, 0)
	c := e.client(t, Credentials{}, WithBudget(budget))
	e.fake.SetFaults(graphfake.Faults{GraphDown: true})
	var calls []*Call
	for _, u := range e.users {
		call, _ := c.SetPresenceCall(u, busy, time.Hour)
		calls = append(calls, call)
	}
	for _, err := range c.DoBatch(ctx, calls) {
		if !errs.Retryable(err) {
			t.Fatalf("outage: %v is not retryable", err)
		}
	}
	// The outage holds presence calls a few seconds: a probe, not every
	// queued retry. A caller whose deadline comes first is told when to
	// come back instead of waiting.
	if d := budget.heldUntil.Sub(e.clock.Now()); d != outageHold {
		t.Fatalf("held for %v, want %v", d, outageHold)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := c.SetPresence(dctx, e.users[0], busy, time.Hour); !errs.Is(errs.RateLimited, err) || !errs.RetryAt(err).Equal(e.clock.Now().Add(outageHold)) {
		t.Fatalf("during the hold: %v", err)
	}
	e.clock.Advance(outageHold)
	e.fake.SetFaults(graphfake.Faults{LoginDown: true})
	e.fake.ExpireTokens()
	if err := c.SetPresence(ctx, e.users[0], busy, time.Hour); !errs.Retryable(err) {
		t.Fatalf("login outage: %v is not retryable", err)
	}
}

func TestUserLookups(t *testing.T) {
	e := newEnv(t, graphfake.Options{}, 2)
	p := testserver.ADPersonAt(3)
	const synced = "bbbbbbbb-0000-0000-0000-000000000003"
	e.tenant.AddUser(graphfake.UserSpec{ID: synced, UserPrincipalName: "o'brien@contoso.test", Mail: "O'Brien@Contoso.test", ImmutableID: p.ImmutableID()})
	e.tenant.AddUser(graphfake.UserSpec{ID: "bbbbbbbb-0000-0000-0000-000000000004", UserPrincipalName: "$admin@contoso.test"})
	c := e.client(t, Credentials{})
	imm, err := ImmutableID(p.GUID)
	if err != nil {
		t.Fatal(err)
	}
	found, err := c.FindUsers(ctx, ByImmutableID, imm)
	if err != nil || len(found) != 1 || found[0].ID != synced {
		t.Fatalf("by immutable id: %v %v", found, err)
	}
	if found, err := c.FindUsers(ctx, ByMail, "o'brien@contoso.test"); err != nil || len(found) != 1 || found[0].ID != synced {
		t.Fatalf("by mail with a quote: %v %v", found, err)
	}
	if u, err := c.GetUser(ctx, "o'brien@contoso.test"); err != nil || u.ID != synced {
		t.Fatalf("by UPN: %v %v", u, err)
	}
	if u, err := c.GetUser(ctx, "$admin@contoso.test"); err != nil || u.ID != "bbbbbbbb-0000-0000-0000-000000000004" {
		t.Fatalf("a UPN starting with $: %v %v", u, err)
	}
	if _, err := c.GetUser(ctx, "nobody@contoso.test"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("unknown UPN: %v", err)
	}
}

func TestImmutableID(t *testing.T) {
	// The byte-order trap: AD's objectGUID bytes are .NET's
	// Guid.ToByteArray() order (first three groups little-endian); the
	// GUID string read as RFC 4122 bytes is another value.
	const guid = "2b035434-cb54-4695-85a6-04b628b1be8e"
	got, err := ImmutableID(guid)
	if err != nil || got != "NFQDK1TLlUaFpgS2KLG+jg==" {
		t.Fatalf("ImmutableID = %q %v", got, err)
	}
	rfc, _ := hex.DecodeString(strings.ReplaceAll(guid, "-", "")) // the string's bytes in written order (uuid.Parse)
	if trap := base64.StdEncoding.EncodeToString(rfc); trap == got || trap != "KwNUNMtURpWFpgS2KLG+jg==" {
		t.Fatalf("the RFC-order encoding %s must differ from %s", trap, got)
	}
	if back, _ := GUIDFromImmutableID(got); back != guid {
		t.Fatalf("round trip: %s", back)
	}
	// The directory reads objectGUID's raw bytes and shows them as AD
	// does (package directory's Samba test checks that); the immutable id
	// of that string is base64 of the very bytes written to the directory.
	for i := range 50 {
		p := testserver.ADPersonAt(i)
		if got, _ := ImmutableID(p.GUID); got != p.ImmutableID() {
			t.Fatalf("person %d: %s → %s, want %s", i, p.GUID, got, p.ImmutableID())
		}
	}
	for _, bad := range []string{"", "not-a-guid", "2b035434-cb54-4695-85a6-04b628b1be", "dn:cn=x,dc=y"} {
		if _, err := ImmutableID(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestBudgets(t *testing.T) {
	if got := PerSlot(1500, 30*time.Second); got != 46 {
		t.Fatalf("PerSlot(1500/30s) = %d", got)
	}
	clock := clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	for name, pair := range map[string][2]Budget{
		"local":               {NewLocalBudget(clock, 0, 0), nil},
		"redis, two replicas": {NewRedisBudget(rdb, clock, "t/c", 0, 0), NewRedisBudget(rdb, clock, "t/c", 0, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			clock.Advance(time.Minute)
			total := 0
			for i := 0; ; i++ {
				b := pair[i%2]
				if b == nil {
					b = pair[0]
				}
				cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				got, err := b.Take(cctx, 20)
				cancel()
				if err != nil {
					break // the second is spent: Take waits for the next
				}
				total += got
			}
			if total != 46 {
				t.Fatalf("one second granted %d, want 46", total)
			}
			clock.Advance(time.Second)
			if got, err := pair[0].Take(ctx, 20); err != nil || got != 20 {
				t.Fatalf("next second: %d %v", got, err)
			}
			pair[0].Hold(ctx, clock.Now().Add(10*time.Second))
			clock.Advance(5 * time.Second)
			cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := pair[0].Take(cctx, 1); err == nil {
				t.Fatal("a held budget granted a call")
			}
			clock.Advance(5 * time.Second)
			if got, err := pair[0].Take(ctx, 1); err != nil || got != 1 {
				t.Fatalf("after the hold: %d %v", got, err)
			}
		})
	}
}
