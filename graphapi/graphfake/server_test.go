package graphfake

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"
)

const (
	tenantID = "11111111-2222-3333-4444-555555555555"
	clientID = "22553876-f5ab-4529-bffb-cfe50aa89f87"
	otherApp = "99999999-0000-0000-0000-000000000000"
	userA    = "aaaaaaaa-0000-0000-0000-000000000001"
	userB    = "aaaaaaaa-0000-0000-0000-000000000002"
)

// fixture is a fake with one tenant, one app (a secret, every
// permission) and two users, on a fake clock.
type fixture struct {
	t      *testing.T
	clock  *clockwork.FakeClock
	srv    *Server
	tenant *Tenant
	events []PresenceEvent
}

func newFixture(t *testing.T, opts Options) *fixture {
	f := &fixture{t: t, clock: clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))}
	opts.Clock = f.clock
	opts.OnPresence = func(e PresenceEvent) { f.events = append(f.events, e) }
	f.srv = New(opts)
	f.tenant = f.srv.AddTenant(tenantID)
	f.tenant.AddApp(AppSpec{ClientID: clientID, Secret: "s3cret", Roles: []string{PresenceReadWriteAll, UserReadAll}})
	f.tenant.AddUser(UserSpec{ID: userA, UserPrincipalName: "ann@contoso.test", Mail: "Ann.Smith@contoso.test", ImmutableID: "NFQDK1TLlUaFpgS2KLG+jg==", DisplayName: "Ann"})
	f.tenant.AddUser(UserSpec{ID: userB, UserPrincipalName: "$bob@contoso.test", Mail: "bob@contoso.test"})
	return f
}

// do sends a request to the fake's handler.
func (f *fixture) do(method, path, token, contentType, body string) (*http.Response, map[string]any) {
	f.t.Helper()
	req := httptest.NewRequest(method, "http://graph.test"+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res, m
}

func (f *fixture) token(form url.Values) (int, map[string]any) {
	res, m := f.do(http.MethodPost, "/"+tenantID+"/oauth2/v2.0/token", "", "application/x-www-form-urlencoded", form.Encode())
	return res.StatusCode, m
}

func (f *fixture) secretToken(client, secret string) string {
	f.t.Helper()
	st, m := f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}, "scope": {GraphScope}})
	if st != http.StatusOK {
		f.t.Fatalf("token: %d %v", st, m)
	}
	return m["access_token"].(string)
}

func (f *fixture) post(token, path, body string) (int, map[string]any) {
	res, m := f.do(http.MethodPost, "/v1.0"+path, token, "application/json", body)
	return res.StatusCode, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestToken(t *testing.T) {
	f := newFixture(t, Options{})
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"s3cret"}, "scope": {GraphScope}}
	with := func(k, v string) url.Values {
		u := url.Values{}
		for kk, vv := range good {
			u[kk] = vv
		}
		if v == "" {
			u.Del(k)
		} else {
			u.Set(k, v)
		}
		return u
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"a client secret", good, 200, ""},
		{"a wrong secret", with("client_secret", "nope"), 401, "invalid_client"},
		{"no credential", with("client_secret", ""), 401, "invalid_client"},
		{"another scope", with("scope", "User.Read"), 400, "invalid_scope"},
		{"another grant", with("grant_type", "password"), 400, "unsupported_grant_type"},
		{"an unknown app", with("client_id", otherApp), 400, "unauthorized_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, m := f.token(tc.form)
			if st != tc.status || (tc.code != "" && m["error"] != tc.code) {
				t.Fatalf("got %d %v, want %d %s", st, m, tc.status, tc.code)
			}
			if st == 200 && (m["token_type"] != "Bearer" || m["expires_in"].(float64) != 3599) {
				t.Fatalf("token answer %v", m)
			}
		})
	}
	t.Run("an unknown tenant", func(t *testing.T) {
		res, m := f.do(http.MethodPost, "/nobody.onmicrosoft.com/oauth2/v2.0/token", "", "application/x-www-form-urlencoded", good.Encode())
		if res.StatusCode != 400 || m["error"] != "invalid_request" {
			t.Fatalf("got %d %v", res.StatusCode, m)
		}
	})
}

// selfSigned makes a certificate and its key.
func selfSigned(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zoomsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func TestTokenByCertificate(t *testing.T) {
	f := newFixture(t, Options{})
	cert, key := selfSigned(t)
	_, stranger := selfSigned(t)
	f.tenant.AddApp(AppSpec{ClientID: otherApp, Certificate: cert, Roles: []string{PresenceReadWriteAll}})
	aud := "http://graph.test/" + tenantID + "/oauth2/v2.0/token"
	thumb := sha1.Sum(cert.Raw)
	sign := func(k *rsa.PrivateKey, aud, iss string, exp time.Time) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Audience: jwt.ClaimStrings{aud}, Issuer: iss, Subject: iss,
			ExpiresAt: jwt.NewNumericDate(exp), ID: "1"})
		tok.Header["x5t"] = base64.RawURLEncoding.EncodeToString(thumb[:])
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := f.clock.Now().Add(10 * time.Minute)
	cases := []struct {
		name      string
		assertion string
		status    int
	}{
		{"signed by the registered certificate", sign(key, aud, otherApp, exp), 200},
		{"signed by another key", sign(stranger, aud, otherApp, exp), 401},
		{"for another audience", sign(key, "https://login.microsoftonline.com/x/oauth2/v2.0/token", otherApp, exp), 401},
		{"issued by another app", sign(key, aud, clientID, exp), 401},
		{"expired", sign(key, aud, otherApp, f.clock.Now().Add(-time.Minute)), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, m := f.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {otherApp}, "scope": {GraphScope},
				"client_assertion_type": {AssertionType}, "client_assertion": {tc.assertion}})
			if st != tc.status {
				t.Fatalf("got %d %v, want %d", st, m, tc.status)
			}
		})
	}
}

func TestSetPresenceValidation(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.secretToken(clientID, "s3cret")
	body := func(session, availability, activity, exp string) string {
		m := map[string]string{"availability": availability, "activity": activity}
		if session != "" {
			m["sessionId"] = session
		}
		if exp != "" {
			m["expirationDuration"] = exp
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct {
		name   string
		user   string
		body   string
		status int
	}{
		{"Busy/InACall for an hour", userA, body(clientID, "Busy", "InACall", "PT1H"), 200},
		{"Busy/InAConferenceCall, the default expiry", userA, body(clientID, "Busy", "InAConferenceCall", ""), 200},
		{"DoNotDisturb/Presenting for four hours", userA, body(clientID, "DoNotDisturb", "Presenting", "PT4H"), 200},
		{"Available/Available for five minutes", userA, body(clientID, "Available", "Available", "PT5M"), 200},
		{"Away/Away", userA, body(clientID, "Away", "Away", "PT300S"), 200},
		{"Busy/Busy is not a session pair", userA, body(clientID, "Busy", "Busy", "PT1H"), 400},
		{"Busy/InAMeeting is derived by Teams", userA, body(clientID, "Busy", "InAMeeting", "PT1H"), 400},
		{"Away/OutOfOffice is derived by Teams", userA, body(clientID, "Away", "OutOfOffice", "PT1H"), 400},
		{"DoNotDisturb/DoNotDisturb", userA, body(clientID, "DoNotDisturb", "DoNotDisturb", "PT1H"), 400},
		{"expiry under five minutes", userA, body(clientID, "Busy", "InACall", "PT4M"), 400},
		{"expiry over four hours", userA, body(clientID, "Busy", "InACall", "PT4H1M"), 400},
		{"expiry not ISO 8601", userA, body(clientID, "Busy", "InACall", "1h"), 400},
		{"another app's session id", userA, body(otherApp, "Busy", "InACall", "PT1H"), 400},
		{"no session id", userA, body("", "Busy", "InACall", "PT1H"), 400},
		{"an unknown user", "aaaaaaaa-0000-0000-0000-00000000ffff", body(clientID, "Busy", "InACall", "PT1H"), 404},
		{"a UPN instead of the object id", "ann@contoso.test", body(clientID, "Busy", "InACall", "PT1H"), 404},
		{"not JSON", userA, "{", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, m := f.post(tok, "/users/"+url.PathEscape(tc.user)+"/presence/setPresence", tc.body)
			if st != tc.status {
				t.Fatalf("got %d %v, want %d", st, m, tc.status)
			}
			if st != 200 && (errCode(m) == "" || m["error"].(map[string]any)["innerError"].(map[string]any)["request-id"] == "") {
				t.Fatalf("error body %v lacks Graph's shape", m)
			}
		})
	}
}

func TestClearPresence(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.secretToken(clientID, "s3cret")
	clear := `{"sessionId":"` + clientID + `"}`
	if st, _ := f.post(tok, "/users/"+userA+"/presence/clearPresence", clear); st != 404 {
		t.Fatalf("clearing no session: %d, want 404", st)
	}
	if st, m := f.post(tok, "/users/"+userA+"/presence/setPresence", `{"sessionId":"`+clientID+`","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`); st != 200 {
		t.Fatalf("set: %d %v", st, m)
	}
	if p := f.tenant.Presence(userA); p != (Presence{"Busy", "InACall"}) {
		t.Fatalf("after set: %v", p)
	}
	if st, _ := f.post(tok, "/users/"+userA+"/presence/clearPresence", clear); st != 200 {
		t.Fatalf("clear: %d", st)
	}
	if p := f.tenant.Presence(userA); p != (Presence{"Offline", "Offline"}) {
		t.Fatalf("after clearing the only session: %v, want Offline/Offline", p)
	}
	// The alias path is the same resource.
	if st, _ := f.post(tok, "/communications/presences/"+userA+"/clearPresence", clear); st != 404 {
		t.Fatalf("alias clear of nothing: %d", st)
	}
}

func TestAggregation(t *testing.T) {
	type step struct {
		app    string        // "Busy/InACall"; "" none
		exp    time.Duration // of the app session
		client string        // the user's own Teams client
		choice string        // the user's preferred presence
		after  time.Duration // time passing before the look
		want   string
	}
	cases := []struct {
		name string
		s    step
	}{
		{"a call beats the user's Available", step{app: "Busy/InACall", client: "Available/Available", want: "Busy/InACall"}},
		{"a Teams meeting beats the app's Available", step{app: "Available/Available", client: "Busy/InAMeeting", want: "Busy/InAMeeting"}},
		{"the app's Away never wins", step{app: "Away/Away", client: "Available/Available", want: "Available/Available"}},
		{"Presenting beats a Teams call", step{app: "DoNotDisturb/Presenting", client: "Busy/InACall", want: "DoNotDisturb/Presenting"}},
		{"the user's own choice beats the app", step{app: "Busy/InACall", client: "Available/Available", choice: "Available/Available", want: "Available/Available"}},
		{"an expired session is gone", step{app: "Busy/InACall", exp: time.Hour, after: time.Hour, want: "Offline/Offline"}},
		{"a session lasts until it expires", step{app: "Busy/InACall", exp: 4 * time.Hour, after: 4*time.Hour - time.Second, want: "Busy/InACall"}},
		{"Available fades after five minutes", step{app: "Available/Available", exp: time.Hour, after: 5 * time.Minute, want: "Available/AvailableInactive"}},
		{"and is Away after ten", step{app: "Available/Available", exp: time.Hour, after: 10 * time.Minute, want: "Away/Away"}},
		{"Busy does not fade", step{app: "Busy/InAConferenceCall", exp: time.Hour, after: 30 * time.Minute, want: "Busy/InAConferenceCall"}},
		{"the user's choice shows only with a session", step{choice: "DoNotDisturb/DoNotDisturb", want: "Offline/Offline"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			tok := f.secretToken(clientID, "s3cret")
			s := tc.s
			if s.client != "" {
				a, b, _ := strings.Cut(s.client, "/")
				f.tenant.SetClientSession(userA, "desktop", a, b)
			}
			if s.app != "" {
				a, b, _ := strings.Cut(s.app, "/")
				exp := s.exp
				if exp == 0 {
					exp = time.Hour
				}
				body := fmt.Sprintf(`{"sessionId":%q,"availability":%q,"activity":%q,"expirationDuration":"PT%dM"}`, clientID, a, b, int(exp/time.Minute))
				if st, m := f.post(tok, "/users/"+userA+"/presence/setPresence", body); st != 200 {
					t.Fatalf("set: %d %v", st, m)
				}
			}
			if s.choice != "" {
				a, b, _ := strings.Cut(s.choice, "/")
				f.tenant.SetUserChoice(userA, a, b, 8*time.Hour)
			}
			f.clock.Advance(s.after)
			tok = f.secretToken(clientID, "s3cret")
			p := f.tenant.Presence(userA)
			if got := p.Availability + "/" + p.Activity; got != s.want {
				t.Fatalf("shows %s, want %s", got, s.want)
			}
			res, m := f.do(http.MethodGet, "/v1.0/users/"+userA+"/presence", tok, "", "")
			if res.StatusCode != 200 || fmt.Sprint(m["availability"], "/", m["activity"]) != s.want {
				t.Fatalf("GET presence: %d %v, want %s", res.StatusCode, m, s.want)
			}
		})
	}
}

func TestPreferredPresence(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.secretToken(clientID, "s3cret")
	f.tenant.SetClientSession(userA, "desktop", "Available", "Available")
	cases := []struct {
		body   string
		status int
		want   string
	}{
		{`{"availability":"Busy","activity":"Busy"}`, 200, "Busy/Busy"},
		{`{"availability":"DoNotDisturb","activity":"DoNotDisturb","expirationDuration":"PT8H"}`, 200, "DoNotDisturb/DoNotDisturb"},
		{`{"availability":"Busy","activity":"InACall"}`, 400, "DoNotDisturb/DoNotDisturb"},
	}
	for _, tc := range cases {
		if st, m := f.post(tok, "/users/"+userA+"/presence/setUserPreferredPresence", tc.body); st != tc.status {
			t.Fatalf("%s: %d %v", tc.body, st, m)
		}
		if p := f.tenant.Presence(userA); p.Availability+"/"+p.Activity != tc.want {
			t.Fatalf("%s: shows %v, want %s", tc.body, p, tc.want)
		}
	}
	if st, _ := f.post(tok, "/users/"+userA+"/presence/clearUserPreferredPresence", ""); st != 200 {
		t.Fatalf("clear preferred: %d", st)
	}
	if p := f.tenant.Presence(userA); p != (Presence{"Available", "Available"}) {
		t.Fatalf("after clearing: %v", p)
	}
	if st, _ := f.post(tok, "/users/"+userA+"/presence/setStatusMessage", `{"statusMessage":{"message":{"content":"On a Zoom call","contentType":"text"}}}`); st != 200 {
		t.Fatalf("status message: %d", st)
	}
}

func TestUsers(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.secretToken(clientID, "s3cret")
	q := func(filter string) string {
		return "/v1.0/users?" + url.Values{"$filter": {filter}, "$select": {"id,mail"}}.Encode()
	}
	cases := []struct {
		name   string
		path   string
		status int
		id     string // of the user found; "" none
	}{
		{"by object id", "/v1.0/users/" + userA, 200, userA},
		{"by UPN", "/v1.0/users/ann@contoso.test", 200, userA},
		{"by a UPN starting with $", "/v1.0/users('$bob@contoso.test')", 200, userB},
		{"an unknown UPN", "/v1.0/users/nobody@contoso.test", 404, ""},
		{"by mail, any case", q("mail eq 'ann.smith@contoso.test'"), 200, userA},
		{"by immutable id", q("onPremisesImmutableId eq 'NFQDK1TLlUaFpgS2KLG+jg=='"), 200, userA},
		{"by an immutable id of no one", q("onPremisesImmutableId eq 'NDQDK1TLlUaFpgS2KLG+jg=='"), 200, ""},
		{"by UPN filter", q("userPrincipalName eq '$bob@contoso.test'"), 200, userB},
		{"an unsupported filter", q("startswith(mail,'a')"), 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, m := f.do(http.MethodGet, tc.path, tok, "", "")
			if res.StatusCode != tc.status {
				t.Fatalf("got %d %v", res.StatusCode, m)
			}
			var got string
			if v, ok := m["value"].([]any); ok {
				if len(v) == 1 {
					got, _ = v[0].(map[string]any)["id"].(string)
				}
			} else if res.StatusCode == 200 {
				got, _ = m["id"].(string)
			}
			if got != tc.id {
				t.Fatalf("found %q, want %q (%v)", got, tc.id, m)
			}
		})
	}
	t.Run("needs User.Read.All", func(t *testing.T) {
		f.tenant.SetConsent(clientID, PresenceReadWriteAll)
		f.clock.Advance(2 * time.Hour)
		tok := f.secretToken(clientID, "s3cret")
		if res, m := f.do(http.MethodGet, "/v1.0/users/"+userA, tok, "", ""); res.StatusCode != 403 {
			t.Fatalf("got %d %v", res.StatusCode, m)
		}
	})
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, Options{TokenTTL: time.Hour})
	tok := f.secretToken(clientID, "s3cret")
	set := `{"sessionId":"` + clientID + `","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`
	if st, _ := f.post(tok, "/users/"+userA+"/presence/setPresence", set); st != 200 {
		t.Fatal(st)
	}
	// Consent revoked: the token in hand keeps its permissions until it
	// expires, as Entra's do; the next one has none.
	f.tenant.SetConsent(clientID)
	if st, _ := f.post(tok, "/users/"+userA+"/presence/setPresence", set); st != 200 {
		t.Fatalf("the issued token lost its permission at once: %d", st)
	}
	f.clock.Advance(time.Hour)
	if st, m := f.post(tok, "/users/"+userA+"/presence/setPresence", set); st != 401 || errCode(m) != "InvalidAuthenticationToken" {
		t.Fatalf("expired token: %d %v", st, m)
	}
	tok = f.secretToken(clientID, "s3cret")
	if st, m := f.post(tok, "/users/"+userA+"/presence/setPresence", set); st != 403 {
		t.Fatalf("without consent: %d %v", st, m)
	}
	if st, _ := f.post("", "/users/"+userA+"/presence/setPresence", set); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	f.srv.SetFaults(Faults{GraphDown: true})
	if st, _ := f.post(tok, "/users/"+userA+"/presence/setPresence", set); st != 503 {
		t.Fatalf("outage: %d", st)
	}
}

func TestThrottling(t *testing.T) {
	f := newFixture(t, Options{PresenceLimit: 10, PresenceWindow: 30 * time.Second})
	tok := f.secretToken(clientID, "s3cret")
	set := `{"sessionId":"` + clientID + `","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`
	for i := range 10 {
		if st, _ := f.post(tok, "/users/"+userA+"/presence/setPresence", set); st != 200 {
			t.Fatalf("call %d: %d", i, st)
		}
		f.clock.Advance(time.Second)
	}
	res, m := f.do(http.MethodPost, "/v1.0/users/"+userA+"/presence/setPresence", tok, "application/json", set)
	if res.StatusCode != 429 || errCode(m) != "TooManyRequests" || res.Header.Get("Retry-After") != "20" {
		t.Fatalf("over the limit: %d Retry-After %q %v, want 429 after 20 s (the first call leaves the window)", res.StatusCode, res.Header.Get("Retry-After"), m)
	}
	f.clock.Advance(20 * time.Second)
	if st, _ := f.post(tok, "/users/"+userA+"/presence/setPresence", set); st != 200 {
		t.Fatalf("after Retry-After: %d", st)
	}
	// Another app of the tenant has its own budget.
	f.tenant.AddApp(AppSpec{ClientID: otherApp, Secret: "x", Roles: []string{PresenceReadWriteAll}})
	other := f.secretToken(otherApp, "x")
	if st, _ := f.post(other, "/users/"+userA+"/presence/setPresence", strings.ReplaceAll(set, clientID, otherApp)); st != 200 {
		t.Fatalf("another app: %d", st)
	}
	if s := f.srv.Stats(); s.Throttled != 1 || s.MaxPresenceLoad != 10 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBatch(t *testing.T) {
	f := newFixture(t, Options{PresenceLimit: 3})
	tok := f.secretToken(clientID, "s3cret")
	set := func(id, user string, deps ...string) map[string]any {
		r := map[string]any{"id": id, "method": "POST", "url": "/users/" + user + "/presence/setPresence",
			"headers": map[string]string{"Content-Type": "application/json"},
			"body":    map[string]string{"sessionId": clientID, "availability": "Busy", "activity": "InACall", "expirationDuration": "PT1H"}}
		if len(deps) > 0 {
			r["dependsOn"] = deps
		}
		return r
	}
	batch := func(reqs ...map[string]any) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"requests": reqs})
		return f.post(tok, "/$batch", string(b))
	}
	statuses := func(m map[string]any) map[string]int {
		out := map[string]int{}
		for _, r := range m["responses"].([]any) {
			rr := r.(map[string]any)
			out[rr["id"].(string)] = int(rr["status"].(float64))
		}
		return out
	}
	t.Run("whole-batch errors", func(t *testing.T) {
		var many []map[string]any
		for i := range 21 {
			many = append(many, set(fmt.Sprint(i), userA))
		}
		noType := set("1", userA)
		delete(noType, "headers")
		for name, reqs := range map[string][]map[string]any{
			"21 requests":              many,
			"a duplicate id":           {set("1", userA), set("1", userB)},
			"a body without its type":  {noType},
			"a dependency not present": {set("1", userA, "9")},
		} {
			if st, m := batch(reqs...); st != 400 {
				t.Fatalf("%s: %d %v", name, st, m)
			}
		}
	})
	t.Run("inner answers, 424 and 429", func(t *testing.T) {
		f.clock.Advance(time.Minute)
		st, m := batch(set("1", userA), set("2", "aaaaaaaa-0000-0000-0000-00000000ffff"), set("3", userB, "2"), set("4", userB), set("5", userA))
		if st != 200 {
			t.Fatalf("batch: %d %v", st, m)
		}
		got := statuses(m)
		// 1 and 4 pass; 2 is an unknown user (404); 3 depends on 2 (424,
		// and spends no budget); 5 is the fourth presence call (429: the
		// limit is 3).
		want := map[string]int{"1": 200, "2": 404, "3": 424, "4": 200, "5": 429}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("statuses %v, want %v", got, want)
		}
		for _, r := range m["responses"].([]any) {
			rr := r.(map[string]any)
			if rr["id"] == "5" && rr["headers"].(map[string]any)["Retry-After"] == nil {
				t.Fatalf("the inner 429 has no Retry-After: %v", rr)
			}
		}
	})
	t.Run("answers are not in request order", func(t *testing.T) {
		f.srv.opts.PresenceLimit = -1
		var reqs []map[string]any
		for i := range 20 {
			reqs = append(reqs, set(fmt.Sprint(i+1), userA))
		}
		_, m := batch(reqs...)
		var order []string
		for _, r := range m["responses"].([]any) {
			order = append(order, r.(map[string]any)["id"].(string))
		}
		if len(order) != 20 || strings.Join(order, ",") == "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" {
			t.Fatalf("answers %v: want all 20, shuffled", order)
		}
	})
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{"PT5M": 5 * time.Minute, "PT1H30M": 90 * time.Minute, "PT300S": 5 * time.Minute,
		"PT4H": 4 * time.Hour, "P1D": 24 * time.Hour, "PT0.5S": 500 * time.Millisecond}
	for in, want := range cases {
		if d, ok := parseDuration(in); !ok || d != want {
			t.Errorf("%s: %v %v, want %v", in, d, ok, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1h", "PT1H5", "P1Y", "-PT5M"} {
		if _, ok := parseDuration(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
