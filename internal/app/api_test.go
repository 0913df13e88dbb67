package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/directory/dirfake"
	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/people"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

const (
	otherToken = "other-token-0123456789abcdef"
	pollToken  = "poll-token-0123456789abcdef" // for waiting, so tests keep their own token's budget
)

// apiServer runs serve on the embedded Redis with the fake Zoom (60
// users) and the in-process directory, where person 7's employee number
// is 10006: user 6's phone extension, so that key is ambiguous.
func apiServer(t *testing.T) (base string, acct *zoomfake.Account) {
	t.Helper()
	fake, acct := startFake(t, 60)
	dir, err := dirfake.Start(dirfake.Options{People: 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dir.Close)
	p7 := people.At(7).Attributes()
	p7["employeeNumber"] = []string{"10006"}
	dir.Put(dirfake.Entry{DN: people.At(7).DN(), Attributes: p7})
	env := serveEnv(fake, "", "127.0.0.1:0")
	delete(env, "ZOOMSYNC_REDIS_URL")
	for k, v := range map[string]string{"LDAP_URL": dir.URL(), "LDAP_BIND_DN": people.ServiceBindDN, "LDAP_BIND_PASSWORD": people.ServicePassword,
		"LDAP_BASE_DN": people.UsersDN, "ZOOMSYNC_MATCH_RULES": "email=mail", "ZOOMSYNC_API_TOKENS": apiToken + "," + otherToken + "," + pollToken,
		"ZOOMSYNC_API_RATE_LIMIT": "20"} {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	base, done := startServe(ctx, loadConfig(t, env), "api")
	if base == "" {
		t.Fatal(<-done)
	}
	t.Cleanup(func() { cancel(); <-done })
	// Ready: pulled, mapped, and the read model (which answers lookups)
	// holds the mapping's links.
	eventually(t, "ready", func() bool { return pollStatus(base+"/readyz") == http.StatusOK })
	return base, acct
}

// pollStatus is the status of a GET with the polling token (0 when the
// request fails).
func pollStatus(u string) int {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+pollToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestHelpdeskAPI(t *testing.T) {
	base, acct := apiServer(t)
	u6, _ := acct.User(zoomfake.UserIDFor(acctID, 6))
	p6 := people.At(6)
	t.Run("every key type", func(t *testing.T) {
		for _, key := range []string{u6.ID, u6.Email, strings.ToUpper(u6.Email), p6.UID, p6.EmployeeNumber} {
			var got helpdesk.Presence
			if code := getJSON(t, base+"/v1/presence/"+url.PathEscape(key), &got); code != 200 || got.ZoomUserID != u6.ID || got.Directory == nil {
				t.Fatalf("key %q: %d %+v", key, code, got)
			}
		}
		u11, _ := acct.User(zoomfake.UserIDFor(acctID, 11)) // 11 has a phone
		var got helpdesk.Presence
		if code := getJSON(t, base+"/v1/presence/"+fmt.Sprint(zoomfake.Extension(11)), &got); code != 200 || got.ZoomUserID != u11.ID {
			t.Fatalf("by extension: %d %+v", code, got)
		}
	})
	t.Run("errors", func(t *testing.T) {
		var e struct {
			Error struct {
				Code       string               `json:"code"`
				Candidates []helpdesk.Candidate `json:"candidates"`
			} `json:"error"`
		}
		cases := []struct {
			path, token string
			code        int
			errCode     string
		}{
			{"/v1/presence/" + u6.Email, "", 401, "unauthorized"},
			{"/v1/presence/" + u6.Email, "wrong-token-0123456789", 401, "unauthorized"},
			{"/v1/presence/nobody@example.com", apiToken, 404, "not_found"},
			{"/v1/presence/10006", apiToken, 409, "ambiguous"}, // user 6's extension, person 7's employee number
			{"/v1/presence", apiToken, 400, "no_keys"},
			{"/v1/presence?" + strings.Repeat("key=x&", 501), apiToken, 400, "too_many_keys"},
			{"/v1/no-such-thing", apiToken, 404, "not_found"},
			{"/v1/mapping/report?limit=5000", apiToken, 400, "bad_limit"},
			{"/v1/presence/" + u6.Email + "/history?since=yesterday", apiToken, 400, "bad_since"},
		}
		for _, tc := range cases {
			t.Run(tc.path[:min(len(tc.path), 60)], func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
				if tc.token != "" {
					req.Header.Set("Authorization", "Bearer "+tc.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				e.Error.Code, e.Error.Candidates = "", nil
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != tc.code || e.Error.Code != tc.errCode {
					t.Fatalf("%d %q (%v), want %d %q", resp.StatusCode, e.Error.Code, err, tc.code, tc.errCode)
				}
				if tc.code == 409 && len(e.Error.Candidates) != 2 {
					t.Fatalf("candidates %+v", e.Error.Candidates)
				}
			})
		}
		req, _ := http.NewRequest(http.MethodDelete, base+"/v1/targets", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("DELETE /v1/targets: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("bulk", func(t *testing.T) {
		var got map[string]json.RawMessage
		q := url.Values{"key": {u6.Email, "nobody@example.com", "10006", p6.UID}}
		if code := getJSON(t, base+"/v1/presence?"+q.Encode(), &got); code != 200 || len(got) != 4 {
			t.Fatalf("%d %v", code, got)
		}
		if string(got["nobody@example.com"]) != "null" || !strings.Contains(string(got["10006"]), `"ambiguous"`) ||
			!strings.Contains(string(got[u6.Email]), u6.ID) || !strings.Contains(string(got[p6.UID]), u6.ID) {
			t.Fatalf("bulk answer %s", mustJSON(got))
		}
	})
	t.Run("per-token limit", func(t *testing.T) {
		limited := 0
		for i := 0; i < 100; i++ {
			req, _ := http.NewRequest(http.MethodGet, base+"/v1/targets", nil)
			req.Header.Set("Authorization", "Bearer "+otherToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "" {
				limited++
			}
		}
		if limited == 0 {
			t.Fatal("100 requests at once never hit the 20/s limit")
		}
		if code := getJSON(t, base+"/v1/targets", nil); code != 200 {
			t.Fatalf("the other token was limited too: %d", code)
		}
	})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestOpenAPIMatchesHandlers: every operation of the served OpenAPI
// document answers with one of its documented statuses, and every 200
// answer has the documented schema's required properties.
func TestOpenAPIMatchesHandlers(t *testing.T) {
	base, acct := apiServer(t)
	var doc struct {
		Paths      map[string]map[string]operation `json:"paths"`
		Components struct {
			Schemas   map[string]schema         `json:"schemas"`
			Responses map[string]map[string]any `json:"responses"`
		} `json:"components"`
	}
	if code := getJSON(t, base+"/v1/openapi.json", &doc); code != 200 || len(doc.Paths) < 10 {
		t.Fatalf("openapi.json: %d, %d paths", code, len(doc.Paths))
	}
	u6, _ := acct.User(zoomfake.UserIDFor(acctID, 6))
	fill := strings.NewReplacer("{key}", url.PathEscape(u6.Email), "{run_id}", "0000000000000000", "{account_id}", acctID)
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for method, op := range doc.Paths[p] {
			if strings.HasPrefix(p, "/webhooks/") || strings.HasSuffix(p, "/stream") {
				continue // the webhook handler has its own tests (zoomapi/webhook); the stream, TestBoardInChromium
			}
			t.Run(method+" "+p, func(t *testing.T) {
				u := base + fill.Replace(p)
				if p == "/v1/presence" {
					u += "?key=" + url.QueryEscape(u6.Email)
				}
				req, _ := http.NewRequest(strings.ToUpper(method), u, nil)
				req.Header.Set("Authorization", "Bearer "+apiToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				code := fmt.Sprint(resp.StatusCode)
				r, ok := op.Responses[code]
				if !ok {
					t.Fatalf("answered %s, which the document does not list (%v): %s", code, keys(op.Responses), body)
				}
				ref := r.schemaRef()
				if ref == "" || resp.StatusCode >= 300 {
					return
				}
				var got map[string]any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("not JSON: %s", body)
				}
				sc := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
				for _, req := range sc.Required {
					if _, ok := got[req]; !ok {
						t.Errorf("answer lacks required %q: %s", req, body)
					}
				}
			})
		}
	}
}

type operation struct {
	Responses map[string]response `json:"responses"`
}

type response struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	} `json:"content"`
}

func (r response) schemaRef() string {
	if c, ok := r.Content["application/json"]; ok {
		return c.Schema.Ref
	}
	return ""
}

type schema struct {
	Required []string `json:"required"`
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestReadModelMetrics: the read model's series say how many users it
// holds, that it loaded once at start, and which lookups it answered and
// which fell back to Redis.
func TestReadModelMetrics(t *testing.T) {
	base, acct := apiServer(t)
	u6, _ := acct.User(zoomfake.UserIDFor(acctID, 6))
	if got := gaugeValue(t, base, "zoomsync_readmodel_users"); got != 60 {
		t.Errorf("zoomsync_readmodel_users %v, want the fake's 60 users", got)
	}
	if got := gaugeValue(t, base, `zoomsync_readmodel_loads_total{reason="start"}`); got != 1 {
		t.Errorf(`loads_total{reason="start"} %v, want 1`, got)
	}
	if got := gaugeValue(t, base, "zoomsync_readmodel_load_duration_seconds_count"); got < 1 {
		t.Errorf("load_duration_seconds_count %v, want ≥ 1", got)
	}
	const model, redis = `zoomsync_readmodel_lookups_total{answer="model"}`, `zoomsync_readmodel_lookups_total{answer="redis"}`
	hits, misses := gaugeValue(t, base, model), gaugeValue(t, base, redis)
	for _, step := range []struct {
		key                  string
		code                 int
		wantHits, wantMisses float64
	}{
		{u6.Email, 200, 1, 0},
		{"nobody@example.com", 404, 0, 1}, // not in the model: Redis is asked (and has nobody either)
	} {
		if code := getJSON(t, base+"/v1/presence/"+step.key, nil); code != step.code {
			t.Fatalf("%s: %d, want %d", step.key, code, step.code)
		}
		h, m := gaugeValue(t, base, model), gaugeValue(t, base, redis)
		if h-hits != step.wantHits || m-misses != step.wantMisses {
			t.Errorf("%s: model +%v redis +%v, want +%v +%v", step.key, h-hits, m-misses, step.wantHits, step.wantMisses)
		}
		hits, misses = h, m
	}
}
