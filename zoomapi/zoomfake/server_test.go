package zoomfake_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

type env struct {
	fake  *zoomfake.Server
	srv   *httptest.Server
	clock *clockwork.FakeClock
	acct  *zoomfake.Account
}

func setup(t *testing.T, users int, limits zoomfake.Limits) *env {
	t.Helper()
	clock := clockwork.NewFakeClock()
	e := setupWith(t, zoomfake.New(zoomfake.Options{Clock: clock, Limits: limits}), users)
	e.clock = clock
	return e
}

// setupWith serves fake with one account of generated users.
func setupWith(t *testing.T, fake *zoomfake.Server, users int) *env {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	a := fake.AddAccount(zoomfake.AccountSpec{ID: "A1", ClientID: "cid", ClientSecret: "csecret", WebhookSecret: "whsecret", Users: users})
	return &env{fake: fake, srv: srv, acct: a}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// tokenRequest posts to /oauth/token with the parameters in the body or the
// query string.
func (e *env) tokenRequest(t *testing.T, params url.Values, inQuery bool, auth string) (int, map[string]any) {
	t.Helper()
	u := e.fake.TokenURL()
	var body io.Reader
	if inQuery {
		u += "?" + params.Encode()
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, _ := http.NewRequest(http.MethodPost, u, body)
	if !inQuery {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", auth)
	if params.Get("grant_type") != "account_credentials" || params.Get("account_id") == "" {
		req.Header.Set(contract.SkipRequestHeader, "malformed on purpose")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (e *env) token(t *testing.T) string {
	t.Helper()
	status, m := e.tokenRequest(t, url.Values{"grant_type": {"account_credentials"}, "account_id": {"A1"}}, false, basic("cid", "csecret"))
	if status != 200 {
		t.Fatalf("token: %d %v", status, m)
	}
	return m["access_token"].(string)
}

func (e *env) get(t *testing.T, tok, path string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.fake.APIBaseURL()+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp, m
}

func TestOAuth(t *testing.T) {
	e := setup(t, 1, zoomfake.Unlimited())
	good := url.Values{"grant_type": {"account_credentials"}, "account_id": {"A1"}}
	for _, inQuery := range []bool{false, true} {
		status, m := e.tokenRequest(t, good, inQuery, basic("cid", "csecret"))
		if status != 200 || m["token_type"] != "bearer" || m["expires_in"].(float64) != 3599 || m["scope"] == "" || m["api_url"] != e.srv.URL {
			t.Fatalf("query=%v: %d %v", inQuery, status, m)
		}
	}
	if n := e.fake.Stats().TokenFetches["A1"]; n != 2 {
		t.Fatalf("fetches %d", n)
	}
	tests := []struct {
		name      string
		params    url.Values
		auth, err string
	}{
		{"wrong grant", url.Values{"grant_type": {"password"}, "account_id": {"A1"}}, basic("cid", "csecret"), "unsupported_grant_type"},
		{"wrong secret", good, basic("cid", "nope"), "invalid_client"},
		{"url-safe base64 is not standard base64", good, "Basic " + base64.URLEncoding.EncodeToString([]byte("cid:cs?>cret")), "invalid_client"},
		{"no auth", good, "", "invalid_client"},
		{"unknown account", url.Values{"grant_type": {"account_credentials"}, "account_id": {"B"}}, basic("cid", "csecret"), "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := e.tokenRequest(t, tt.params, false, tt.auth)
			if status != 400 || m["error"] != tt.err || m["reason"] == "" {
				t.Fatalf("%d %v, want 400 %s", status, m, tt.err)
			}
		})
	}
}

func TestAPIAuth(t *testing.T) {
	e := setup(t, 1, zoomfake.Unlimited())
	tok := e.token(t)
	if resp, _ := e.get(t, tok, "/users"); resp.StatusCode != 200 || resp.Header.Get("x-zm-trackingid") == "" {
		t.Fatalf("status %d tracking %q", resp.StatusCode, resp.Header.Get("x-zm-trackingid"))
	}
	if resp, m := e.get(t, "", "/users?access_token="+tok); resp.StatusCode != 401 || m["code"].(float64) != 124 {
		t.Fatalf("token in query: %d %v", resp.StatusCode, m)
	}
	e.clock.Advance(time.Hour)
	if resp, m := e.get(t, tok, "/users"); resp.StatusCode != 401 || m["message"] != "Access token is expired." {
		t.Fatalf("expired: %d %v", resp.StatusCode, m)
	}
}

func TestListUsersPagingAndTokens(t *testing.T) {
	e := setup(t, 1000, zoomfake.Unlimited())
	tok := e.token(t)
	resp, m := e.get(t, tok, "/users?page_size=500")
	if resp.StatusCode != 200 || m["page_size"].(float64) != 300 || m["total_records"].(float64) != 950 {
		t.Fatalf("page size clamp / totals: %v", m)
	}
	_, pend := e.get(t, tok, "/users?status=pending&page_size=300")
	for _, u := range pend["users"].([]any) {
		if _, has := u.(map[string]any)["id"]; has {
			t.Fatal("pending user listed with an id")
		}
	}
	next := m["next_page_token"].(string)
	// A token is bound to its query.
	if resp, m := e.get(t, tok, "/users?page_size=30&next_page_token="+next); resp.StatusCode != 400 || m["code"].(float64) != 300 {
		t.Fatalf("token reused with another page size: %d %v", resp.StatusCode, m)
	}
	_, m = e.get(t, tok, "/users?page_size=300")
	next = m["next_page_token"].(string)
	e.clock.Advance(15 * time.Minute)
	if resp, m := e.get(t, tok, "/users?page_size=300&next_page_token="+next); resp.StatusCode != 400 || m["code"].(float64) != 300 {
		t.Fatalf("expired page token: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.get(t, e.token(t), "/phone/users?page_size=10&next_page_token=bogus"); resp.StatusCode != 400 || m["code"].(float64) != 400 {
		t.Fatalf("phone bad token: %d %v", resp.StatusCode, m)
	}
}

func TestRateLimitAnswers(t *testing.T) {
	e := setup(t, 5, zoomfake.BusinessLimits())
	tok := e.token(t)
	// Medium allows 60 in a second; the 61st is refused with Zoom's headers.
	for i := 0; i < 60; i++ {
		if resp, _ := e.get(t, tok, "/users"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	resp, m := e.get(t, tok, "/users")
	if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Type") != "QPS" || resp.Header.Get("X-RateLimit-Category") != "Medium" || m["code"].(float64) != 429 {
		t.Fatalf("61st: %d %v %v", resp.StatusCode, resp.Header, m)
	}
	// Light is a separate bucket.
	if resp, _ := e.get(t, tok, "/users/"+e.acct.Users()[0].ID); resp.StatusCode != 200 {
		t.Fatalf("light while medium is empty: %d", resp.StatusCode)
	}
	e.clock.Advance(time.Second)
	if resp, _ := e.get(t, tok, "/users"); resp.StatusCode != 200 {
		t.Fatalf("after refill: %d", resp.StatusCode)
	}
	reset := e.clock.Now().Add(5 * time.Hour).UTC().Truncate(time.Second)
	e.fake.SetFaults(zoomfake.Faults{DailyLimitUntil: reset})
	resp, _ = e.get(t, tok, "/users")
	if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Type") != "Daily-limit" ||
		resp.Header.Get("Retry-After") != reset.Format(time.RFC3339) || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("daily: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestInjectedServerErrors(t *testing.T) {
	e := setup(t, 5, zoomfake.Unlimited())
	tok := e.token(t)
	e.fake.SetFaults(zoomfake.Faults{FailNext: 1, Status: 502})
	req, _ := http.NewRequest(http.MethodGet, e.fake.APIBaseURL()+"/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(b), "<html>") {
		t.Fatalf("502: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.get(t, tok, "/users"); resp.StatusCode != 200 {
		t.Fatalf("after the fault: %d", resp.StatusCode)
	}
}

func TestUsersPresencePhoneAgent(t *testing.T) {
	e := setup(t, 100, zoomfake.Unlimited())
	tok := e.token(t)
	u, _ := e.acct.User(zoomfake.EmailOf(13))
	if resp, m := e.get(t, tok, "/users/"+strings.ToUpper(u.Email)); resp.StatusCode != 200 || m["id"] != u.ID || m["account_id"] != "A1" {
		t.Fatalf("get by email: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.get(t, tok, "/users/nobody"); resp.StatusCode != 404 || m["code"].(float64) != 1001 {
		t.Fatalf("unknown: %d %v", resp.StatusCode, m)
	}
	for webhookSpelling, rest := range map[string]string{"In_Meeting": "In_A_Zoom_Meeting", "On_Phone_Call": "On_A_Call", "Do_Not_Disturb": "Do_Not_Disturb"} {
		if err := e.acct.SetPresence(u.ID, webhookSpelling); err != nil {
			t.Fatal(err)
		}
		if _, m := e.get(t, tok, "/users/"+u.ID+"/presence_status"); m["status"] != rest {
			t.Fatalf("%s read back as %v", webhookSpelling, m)
		}
	}
	if _, m := e.get(t, tok, "/phone/users/"+u.ID); m["extension_number"].(float64) != 10013 {
		t.Fatalf("phone user %v", m)
	}
	if _, m := e.get(t, tok, "/contact_center/users/"+u.ID); m["status_id"] != "1" {
		t.Fatalf("agent %v", m)
	}
	if err := e.acct.DeleteUser(u.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.get(t, tok, "/users/"+u.ID); resp.StatusCode != 404 {
		t.Fatalf("deleted user: %d", resp.StatusCode)
	}
}

func TestGenerationIsDeterministic(t *testing.T) {
	a := setup(t, 300, zoomfake.Unlimited()).acct.Users()
	b := setup(t, 300, zoomfake.Unlimited()).acct.Users()
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Email != b[i].Email || a[i].Status != b[i].Status || a[i].Presence != b[i].Presence {
			t.Fatalf("user %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
	if a[0].Email != "alan.lovelace.1@example.com" || a[0].EmployeeUniqueID != "1" {
		t.Fatalf("user 1 = %+v", a[0])
	}
}

type sink struct {
	mu  sync.Mutex
	got []webhook.Delivery
}

func (s *sink) Enqueue(_ context.Context, d webhook.Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, d)
	return nil
}

type accounts map[string]string

func (a accounts) WebhookSecret(id string) (secret.Secret, bool) {
	s, ok := a[id]
	return secret.New(s), ok
}

// TestDeliveredWebhooksVerify checks the fake's signing against the
// independent verifier in package webhook, for every event builder.
func TestDeliveredWebhooksVerify(t *testing.T) {
	e := setup(t, 100, zoomfake.Unlimited())
	sk := &sink{}
	h := webhook.NewHandler(webhook.HandlerOptions{Accounts: accounts{"A1": "whsecret"}, Sink: sk, Clock: e.clock})
	mux := http.NewServeMux()
	h.Register(mux)
	receiver := httptest.NewServer(mux)
	defer receiver.Close()
	u, _ := e.acct.User(zoomfake.EmailOf(13)) // has phone and is an agent
	var events []zoomfake.Event
	add := func(ev zoomfake.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	add(e.acct.PresenceEvent(u.ID, "In_Meeting"))
	add(e.acct.CallEvent("phone.callee_answered", u.ID, "42"))
	add(e.acct.CallEvent("phone.caller_ended", u.ID, "43"))
	add(e.acct.AgentStatusEvent(u.ID, "2", "Not Ready"))
	add(e.acct.UserEvent("user.deactivated", u.ID))
	events = append(events, e.acct.UserUpdatedEvent(u.ID, map[string]any{"email": "new@example.com"}, map[string]any{"email": u.Email}))
	for _, ev := range events {
		for _, path := range []string{"/webhooks/zoom/A1", "/webhooks/zoom"} {
			status, err := e.acct.Deliver(context.Background(), receiver.URL+path, ev)
			if err != nil || status != 200 {
				t.Fatalf("%s to %s: %d %v", ev.Name, path, status, err)
			}
		}
	}
	if len(sk.got) != 2*len(events) {
		t.Fatalf("accepted %d", len(sk.got))
	}
	for _, d := range sk.got {
		if d.Event.UserID() != u.ID || d.Event.ObjectErr != nil || d.RequestID == "" || d.TrackingID == "" {
			t.Fatalf("%s: user %q err %v", d.Event.Name, d.Event.UserID(), d.Event.ObjectErr)
		}
	}
	if p := sk.got[0].Event.Object.(*webhook.PresenceEvent); p.PresenceStatus != "In_Meeting" {
		t.Fatalf("presence %+v", p)
	}
	// A wrong secret is refused by the receiver.
	bad := zoomfake.New(zoomfake.Options{Clock: e.clock}).AddAccount(zoomfake.AccountSpec{ID: "A1", WebhookSecret: "other", Users: 1})
	if status, _ := bad.Deliver(context.Background(), receiver.URL+"/webhooks/zoom/A1", events[0]); status != 401 {
		t.Fatalf("wrong secret: %d", status)
	}
}
