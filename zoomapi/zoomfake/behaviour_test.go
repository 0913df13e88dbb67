package zoomfake_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// The behaviours Zoom's documents are silent on, as the fake plays them.

func TestIDsAndEmailsThatNeedEscaping(t *testing.T) {
	e := setup(t, 0, zoomfake.Unlimited())
	tok := e.token(t)
	for _, u := range []zoomfake.User{
		{ID: "amet id", Email: "o'brien+tag&co@example.com"},
		{ID: "zürich/ü", Email: "jürgen.müller@exämple.de"},
	} {
		e.acct.CreateUser(u)
		for _, key := range []string{u.ID, u.Email} {
			if resp, m := e.get(t, tok, "/users/"+url.PathEscape(key)); resp.StatusCode != 200 || m["id"] != u.ID {
				t.Errorf("GET /users/%s: %d %v", url.PathEscape(key), resp.StatusCode, m)
			}
			// Escaped twice is another id, which does not exist.
			if resp, _ := e.get(t, tok, "/users/"+url.PathEscape(url.PathEscape(key))); key != url.PathEscape(key) && resp.StatusCode != 404 {
				t.Errorf("double-escaped %q found a user", key)
			}
		}
	}
}

func TestFaultsOnBehaviour(t *testing.T) {
	e := setup(t, 700, zoomfake.Unlimited())
	tok := e.token(t)
	first := func() string {
		_, m := e.get(t, tok, "/users?page_size=300")
		return m["next_page_token"].(string)
	}

	t.Run("RepeatPageToken", func(t *testing.T) {
		e.fake.SetFaults(zoomfake.Faults{RepeatPageToken: true})
		defer e.fake.SetFaults(zoomfake.Faults{})
		tok1 := first()
		for range 3 {
			resp, m := e.get(t, tok, "/users?page_size=300&next_page_token="+tok1)
			if m["next_page_token"] != tok1 || resp.Header.Get(zoomfake.FaultHeader) == "" {
				t.Fatalf("next_page_token %v, want %s again", m["next_page_token"], tok1)
			}
		}
	})
	t.Run("EndlessPages", func(t *testing.T) {
		e.fake.SetFaults(zoomfake.Faults{EndlessPages: true})
		defer e.fake.SetFaults(zoomfake.Faults{})
		next, pages := first(), 1
		for ; pages < 10 && next != ""; pages++ {
			_, m := e.get(t, tok, "/users?page_size=300&next_page_token="+next)
			next, _ = m["next_page_token"].(string)
		}
		if next == "" {
			t.Fatalf("the listing ended after %d pages", pages)
		}
	})
	t.Run("NoZoomBody 404 on one route", func(t *testing.T) {
		e.fake.SetFaults(zoomfake.Faults{FailNext: 1, Status: 404, NoZoomBody: true, Routes: []string{"GET /users/{userId}"}})
		defer e.fake.SetFaults(zoomfake.Faults{})
		if resp, _ := e.get(t, tok, "/users?page_size=1"); resp.StatusCode != 200 {
			t.Fatalf("another route failed: %d", resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, e.fake.APIBaseURL()+"/users/"+zoomfake.UserIDFor("A1", 1), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || strings.Contains(string(body), `"code"`) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
}

func TestUnknownFieldsOption(t *testing.T) {
	fake := zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited(), UnknownFields: true})
	e := setupWith(t, fake, 10)
	tok := e.token(t)
	_, m := e.get(t, tok, "/users")
	users := m["users"].([]any)
	if m[zoomfake.UnknownField] == nil || len(users) == 0 || users[0].(map[string]any)[zoomfake.UnknownField] == nil {
		t.Fatalf("no unknown field in %v", m)
	}
}
