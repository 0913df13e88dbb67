package helpdesk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/readmodel"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// peopleFixture is a population over two accounts with names that differ
// only in case, a name shared by two accounts, and several statuses.
var peopleFixture = []struct{ account, key, name, email, presence string }{
	{"A", "a1", "Ada Lovelace", "ada@example.com", "available"},
	{"A", "a2", "alan Turing", "alan@example.com", "away"},
	{"A", "a3", "Grace Hopper", "grace@example.com", "dnd"},
	{"A", "a4", "Edsger Dijkstra", "edsger@example.com", "available"},
	{"B", "b1", "Ada Lovelace", "ada@b.example.com", "offline"},
	{"B", "b2", "Barbara Liskov", "barbara@example.com", "available"},
	{"B", "b3", "ALAN KAY", "kay@example.com", "in_meeting"},
}

// peopleAPI serves the fixture from Redis alone, or (withModel) from a
// loaded read model.
func peopleAPI(t *testing.T, withModel bool) http.Handler {
	t.Helper()
	ctx := context.Background()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	store := zsync.NewStore(rdb, 4, time.Hour).WithPresence(nil, time.Hour)
	v := zsync.WebhookVersion(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC).UnixMilli())
	for _, p := range peopleFixture {
		if _, err := store.Apply(ctx, zsync.Write{Account: p.account, UserKey: p.key, Fields: []zsync.FieldWrite{
			{Name: zsync.FieldUserStatus, Version: v, Value: "active"},
			{Name: zsync.FieldEmail, Version: v, Value: p.email},
			{Name: zsync.FieldDisplayName, Version: v, Value: p.name},
			{Name: zsync.FieldPresence, Version: v, Value: p.presence},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Accounts: []string{"A", "B"}, Tokens: []secret.Secret{secret.New("token")}, Limits: DefaultLimits()}
	if withModel {
		opts.Model = readmodel.New(rdb, store, readmodel.Options{Accounts: opts.Accounts})
		if err := opts.Model.Load(ctx, "start"); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	New(rdb, store, opts).Register(mux)
	return JSONErrors(mux)
}

// openAPIRouter routes requests to helpdesk/openapi.json's operations,
// whose documented answers the tests validate against.
func openAPIRouter(t *testing.T) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// getPeople asks GET /v1/people?query, checks the answer against the
// OpenAPI document, and decodes a 200 into page.
func getPeople(t *testing.T, h http.Handler, rt routers.Router, query string, page *peoplePage) (code int, errCode, message string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://zoomsync.test/v1/people?"+query, nil)
	req.Header.Set("Authorization", "Bearer token")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	route, params, err := rt.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, SkipSettingDefaults: true}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 w.Code, Header: w.Header(), Body: io.NopCloser(bytes.NewReader(w.Body.Bytes())), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("?%s: the answer does not follow openapi.json: %v\n%s", query, err, w.Body)
	}
	if w.Code != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		return w.Code, e.Error.Code, e.Error.Message
	}
	*page = peoplePage{}
	if err := json.Unmarshal(w.Body.Bytes(), page); err != nil {
		t.Fatal(err)
	}
	return w.Code, "", ""
}

func ids(ps []person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.AccountID + "/" + p.ZoomUserID
	}
	return out
}

// TestPeopleContract: GET /v1/people lists every account's people in
// one stable order (display name case-insensitively, then account, then
// user key), says how many there are and how many match, narrows by q,
// status and account, and pages by an opaque cursor that walks the same
// order without gaps or repeats. Before it, the list was the first 100
// of one account in Redis scan order with no counts.
func TestPeopleContract(t *testing.T) {
	for _, backend := range []struct {
		name  string
		model bool
	}{{"redis", false}, {"read model", true}} {
		t.Run(backend.name, func(t *testing.T) { peopleContract(t, peopleAPI(t, backend.model)) })
	}
}

// peopleContract is TestPeopleContract against one backend.
func peopleContract(t *testing.T, h http.Handler) {
	rt := openAPIRouter(t)
	all := []string{"A/a1", "B/b1", "B/b3", "A/a2", "B/b2", "A/a4", "A/a3"} // ada, ada, alan kay, alan turing, barbara, edsger, grace
	cases := []struct {
		name, query string
		want        []string
		matched     int
	}{
		{"everyone", "", all, 7},
		{"q matches a name in any case", "q=ALAN", []string{"B/b3", "A/a2"}, 2},
		{"q matches an email", "q=kay%40", []string{"B/b3"}, 1},
		{"one status", "status=available", []string{"A/a1", "B/b2", "A/a4"}, 3},
		{"several statuses", "status=dnd,in_meeting", []string{"B/b3", "A/a3"}, 2},
		{"an account", "account=B", []string{"B/b1", "B/b3", "B/b2"}, 3},
		{"all together", "q=a&status=available&account=B", []string{"B/b2"}, 1},
		{"no match", "q=nobody-at-all", []string{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var page peoplePage
			if code, ec, msg := getPeople(t, h, rt, tc.query, &page); code != 200 {
				t.Fatalf("%d %s %s", code, ec, msg)
			}
			if got := ids(page.People); !slices.Equal(got, tc.want) || page.Total != 7 || page.Matched != tc.matched || page.NextCursor != "" {
				t.Fatalf("people %v total %d matched %d next %q; want %v, 7, %d, none", got, page.Total, page.Matched, page.NextCursor, tc.want, tc.matched)
			}
		})
	}
	t.Run("pages by cursor", func(t *testing.T) {
		for _, limit := range []int{1, 2, 3, 6} {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatalf("limit %d: more pages than people", limit)
				}
				var page peoplePage
				q := fmt.Sprintf("limit=%d&cursor=%s", limit, url.QueryEscape(cursor))
				if code, ec, msg := getPeople(t, h, rt, q, &page); code != 200 {
					t.Fatalf("%d %s %s", code, ec, msg)
				}
				if len(page.People) > limit || page.Matched != 7 || page.Total != 7 {
					t.Fatalf("limit %d: page of %d, matched %d, total %d", limit, len(page.People), page.Matched, page.Total)
				}
				got = append(got, ids(page.People)...)
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if !slices.Equal(got, all) {
				t.Fatalf("limit %d: walked %v, want %v", limit, got, all)
			}
		}
	})
	t.Run("bad parameters", func(t *testing.T) {
		for _, tc := range []struct{ query, code, says string }{
			{"status=available,sleeping", "bad_status", `"sleeping"`},
			{"status=Available", "bad_status", "available, away"},
			{"account=C", "bad_account", `"C"`},
			{"limit=0", "bad_limit", "1 to 500"},
			{"limit=501", "bad_limit", "1 to 500"},
			{"cursor=not-a-cursor", "bad_cursor", "next_cursor"},
			{"q=" + strings.Repeat("x", MaxKeyBytes+1), "key_too_long", "256"},
		} {
			var page peoplePage
			code, ec, msg := getPeople(t, h, rt, tc.query, &page)
			if code != 400 || ec != tc.code || !strings.Contains(msg, tc.says) {
				t.Errorf("?%.40s: %d %s %q; want 400 %s saying %s", tc.query, code, ec, msg, tc.code, tc.says)
			}
		}
	})
}
