package graphcontract

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/graphapi/graphfake"
)

// The check sees what deviates: a request outside the documented pairs,
// a $batch request inside it, and an answer of the wrong shape.
func TestCheckerFindsDeviations(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	fake := graphfake.New(graphfake.Options{})
	tenant := fake.AddTenant("t")
	tenant.AddApp(graphfake.AppSpec{ClientID: "c", Secret: "s", Roles: []string{graphfake.PresenceReadWriteAll}})
	tenant.AddUser(graphfake.UserSpec{ID: "u1"})
	h := c.Handler(fake)
	send := func(method, path, ctype, body, token string) *http.Response {
		r := httptest.NewRequest(method, "http://graph.test"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	send(http.MethodPost, "/t/oauth2/v2.0/token", "application/x-www-form-urlencoded",
		"grant_type=client_credentials&client_id=c&client_secret=s&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default", "")
	if d := c.Deviations(); len(d) != 0 {
		t.Fatalf("a good token request deviated: %v", d)
	}
	// A fake answer shape is checked too: the token answer above passed.
	send(http.MethodPost, "/v1.0/users/u1/presence/setPresence", "application/json",
		`{"sessionId":"c","availability":"Busy","activity":"Busy"}`, "x")
	send(http.MethodPost, "/v1.0/$batch", "application/json",
		`{"requests":[{"id":"1","method":"POST","url":"/users/u1/presence/clearPresence","headers":{"Content-Type":"application/json"},"body":{}}]}`, "x")
	d := strings.Join(c.Deviations(), "\n")
	if !strings.Contains(d, "request POST /v1.0/users/{userId}/presence/setPresence") || !strings.Contains(d, "request POST /v1.0/users/{userId}/presence/clearPresence") {
		t.Fatalf("deviations:\n%s", d)
	}
}
