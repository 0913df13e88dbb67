package zoomapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

// The tests here pin how the client behaves where Zoom's documents say
// nothing: ids and emails that need escaping, 404s with and without
// Zoom's body, listings that do not end, fields the client does not know.

// recorder keeps the raw request-target of every request (what went on
// the wire, before any unescaping).
type recorder struct {
	mu   sync.Mutex
	uris []string
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.uris = append(r.uris, req.Method+" "+req.RequestURI)
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	})
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.uris
	r.uris = nil
	return out
}

// setupRecorded is setupFake behind a recorder.
func setupRecorded(t *testing.T, fakeOpts zoomfake.Options, opts ...zoomapi.Option) (*fakeBundle, *recorder) {
	t.Helper()
	if fakeOpts.Limits == (zoomfake.Limits{}) {
		fakeOpts.Limits = zoomfake.Unlimited()
	}
	fake := zoomfake.New(fakeOpts)
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(fake))
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	a := fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret, WebhookSecret: "wh"})
	c := newClient(t, append([]zoomapi.Option{zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL())}, opts...)...)
	return &fakeBundle{fake: fake, acct: a, client: c}, rec
}

// newClient is a client for the test account, its requests checked
// against Zoom's documents.
func newClient(t *testing.T, opts ...zoomapi.Option) *zoomapi.Client {
	t.Helper()
	all := append([]zoomapi.Option{zoomapi.WithRateLimits(zoomapi.Unlimited()), zoomapi.WithRetryPolicy(fastRetries),
		zoomapi.WithHTTPClient(&http.Client{Transport: contract.Transport(nil)})}, opts...)
	c, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: acct, ClientID: clientID, ClientSecret: secret.New(clientSecret)}, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPathParametersAreEscapedExactlyOnce(t *testing.T) {
	b, rec := setupRecorded(t, zoomfake.Options{})
	users := []zoomfake.User{
		{ID: "amet id", Email: "plain@example.com"},
		{ID: "u+plus&amp'quote", Email: "o'brien+tag&co@example.com"},
		{ID: "zürich-ü", Email: "jürgen.müller@exämple.de"},
		{ID: "semi;colon,comma=eq@at", Email: "semi;colon@example.com"},
		{ID: "pct%41id", Email: "pct%41@example.com"},
		{ID: "slash/id", Email: "a/b@example.com"},
	}
	for i := range users {
		u := users[i]
		u.FirstName, u.LastName = "Esc", "Aped"
		u.Phone = &zoomfake.Phone{PhoneUserID: "pu" + u.ID, ExtensionID: "ext" + u.ID, ExtensionNumber: int64(20000 + i), Number: "+15550000000"}
		u.Agent = &zoomfake.Agent{StatusID: "1", StatusName: "Ready"}
		b.acct.CreateUser(u)
	}
	ctx := context.Background()
	for _, u := range users {
		for _, key := range []string{u.ID, u.Email} {
			esc := url.PathEscape(key)
			calls := []struct {
				name string
				want string
				call func() error
			}{
				{"Users.Get", "GET /v2/users/" + esc, func() error { _, _, err := b.client.Users.Get(ctx, key); return err }},
				{"Users.GetPresence", "GET /v2/users/" + esc + "/presence_status", func() error { _, _, err := b.client.Users.GetPresence(ctx, key); return err }},
				{"Phone.Get", "GET /v2/phone/users/" + esc, func() error { _, _, err := b.client.Phone.Get(ctx, key); return err }},
				{"ContactCenter.GetUser", "GET /v2/contact_center/users/" + esc, func() error { _, _, err := b.client.ContactCenter.GetUser(ctx, key); return err }},
				{"ContactCenter.UpdateStatus", "PATCH /v2/contact_center/users/" + esc + "/status", func() error {
					return b.client.ContactCenter.UpdateStatus(ctx, key, zoomapi.StatusUpdate{StatusID: "1"})
				}},
			}
			for _, c := range calls {
				rec.take()
				if err := c.call(); err != nil {
					t.Errorf("%s(%q): %v", c.name, key, err)
				}
				var got []string
				for _, l := range rec.take() {
					if !strings.Contains(l, "/oauth/token") {
						got = append(got, l)
					}
				}
				if len(got) != 1 || got[0] != c.want {
					t.Errorf("%s(%q) sent %q, want %q", c.name, key, got, c.want)
					continue
				}
				// Escaped once: unescaping once gives the key back.
				seg := strings.TrimPrefix(got[0], c.want[:strings.Index(c.want, esc)])
				seg = strings.TrimSuffix(seg, strings.TrimPrefix(c.want, c.want[:strings.Index(c.want, esc)]+esc))
				if back, err := url.PathUnescape(seg); err != nil || back != key {
					t.Errorf("%s(%q): the path segment %q unescapes to %q", c.name, key, seg, back)
				}
			}
		}
	}
}

func TestOnlyZoomsOwn404SaysTheUserDoesNotExist(t *testing.T) {
	cases := []struct {
		name         string
		faults       zoomfake.Faults
		userNotFound bool
		kind         errs.Kind
	}{
		{"Zoom's 1001", zoomfake.Faults{}, true, errs.NotFound},
		{"404 without Zoom's body", zoomfake.Faults{FailNext: 1000, Status: 404, NoZoomBody: true}, false, errs.Transient},
		{"404 with another code", zoomfake.Faults{FailNext: 1000, Status: 404}, false, errs.NotFound},
		{"502 page", zoomfake.Faults{FailNext: 1000, Status: 502}, false, errs.Transient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := setupFake(t, 0, zoomfake.Options{})
			tc.faults.Routes = []string{"GET /users/{userId}"}
			b.fake.SetFaults(tc.faults)
			_, _, err := b.client.Users.Get(context.Background(), "nobody-here")
			if err == nil {
				t.Fatal("no error")
			}
			if got := zoomapi.IsUserNotFound(err); got != tc.userNotFound {
				t.Errorf("IsUserNotFound = %v, want %v (%v)", got, tc.userNotFound, err)
			}
			if got := errs.KindOf(err); got != tc.kind {
				t.Errorf("kind %v, want %v (%v)", got, tc.kind, err)
			}
		})
	}
}

// pagingGuard fails the test instead of letting a listing that never ends
// run forever: past maxRequests it cancels the context.
func pagingGuard(t *testing.T, fakeOpts zoomfake.Options, faults zoomfake.Faults, maxRequests int64) (*fakeBundle, context.Context, *atomic.Int64) {
	t.Helper()
	fakeOpts.Limits = zoomfake.Unlimited()
	fake := zoomfake.New(fakeOpts)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > maxRequests {
			cancel()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	a := fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret, WebhookSecret: "wh", Users: 2000})
	c := newClient(t, zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()))
	fake.SetFaults(faults)
	return &fakeBundle{fake: fake, acct: a, client: c}, ctx, &n
}

func TestListingsThatDoNotEndFailInsteadOfLooping(t *testing.T) {
	listings := []struct {
		name string
		all  func(ctx context.Context, c *zoomapi.Client) error
	}{
		{"users", func(ctx context.Context, c *zoomapi.Client) error {
			for _, err := range c.Users.AllStatuses(ctx, 300) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"phone users", func(ctx context.Context, c *zoomapi.Client) error {
			for _, err := range c.Phone.All(ctx) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
		{"contact center agents", func(ctx context.Context, c *zoomapi.Client) error {
			for _, err := range c.ContactCenter.AllUsers(ctx) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	faults := []struct {
		name        string
		faults      zoomfake.Faults
		maxRequests int64
	}{
		// 2000 users, 200 agents: a token handed back again is seen on the
		// 2nd page.
		{"repeated next_page_token", zoomfake.Faults{RepeatPageToken: true}, 5},
		// Far past total_records: ceil(total/size) + a tenth + 10 pages
		// (users: 7+0+10 active, 1600 phone users: 16+1+10).
		{"pages past total_records", zoomfake.Faults{EndlessPages: true}, 40},
	}
	for _, l := range listings {
		for _, f := range faults {
			t.Run(l.name+"/"+f.name, func(t *testing.T) {
				b, ctx, n := pagingGuard(t, zoomfake.Options{}, f.faults, f.maxRequests)
				err := l.all(ctx, b.client)
				if ctx.Err() != nil {
					t.Fatalf("still paging after %d requests", n.Load())
				}
				if err == nil {
					t.Fatal("the listing ended without an error")
				}
				if errs.KindOf(err) != errs.Permanent || errs.Retryable(err) {
					t.Errorf("kind %v: a listing that does not end must not be retried at once", errs.KindOf(err))
				}
				t.Logf("%d requests: %v", n.Load(), err)
			})
		}
	}
}

func TestPagesFarPastTotalRecordsAreBounded(t *testing.T) {
	// 2000 users (1920 active), 300 a page: 7 pages; 7 + 0 + 10 allowed.
	b, ctx, n := pagingGuard(t, zoomfake.Options{}, zoomfake.Faults{EndlessPages: true}, 100)
	var err error
	for _, err = range b.client.Users.Pages(ctx, zoomapi.ListUsersOptions{PageSize: 300}) {
		if err != nil {
			break
		}
	}
	if err == nil || ctx.Err() != nil {
		t.Fatalf("err %v after %d requests", err, n.Load())
	}
	if got := n.Load(); got > 1+17 { // the token, then the pages
		t.Errorf("%d requests, want at most 18", got)
	}
}

func TestAnswersWithUnknownFieldsDecodeAsWithout(t *testing.T) {
	read := func(unknown bool) []any {
		b := setupFake(t, 40, zoomfake.Options{UnknownFields: unknown})
		ctx := context.Background()
		var out []any
		for p, err := range b.client.Users.AllStatuses(ctx, 300) {
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range p.Users {
				out = append(out, *u)
			}
		}
		id := zoomfake.UserIDFor(acct, 3)
		u, _, err := b.client.Users.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		pr, _, err := b.client.Users.GetPresence(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		pu, _, err := b.client.Phone.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		ag, _, err := b.client.ContactCenter.GetUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		st, err := b.client.ContactCenter.ListStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for pu, err := range b.client.Phone.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, *pu)
		}
		return append(out, *u, *pr, *pu, *ag, st)
	}
	plain, extra := read(false), read(true)
	// Generated users differ only by creation time (the fake's clock).
	if len(plain) != len(extra) {
		t.Fatalf("%d values without unknown fields, %d with", len(plain), len(extra))
	}
	for i := range plain {
		a, b := plain[i], extra[i]
		if u, ok := a.(zoomapi.User); ok {
			v := b.(zoomapi.User)
			u.UserCreatedAt, u.CreatedAt, u.LastLoginTime = v.UserCreatedAt, v.CreatedAt, v.LastLoginTime
			a = u
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("value %d differs with unknown fields:\n%+v\n%+v", i, a, b)
		}
	}
}

func TestAPIHostRungs(t *testing.T) {
	// Every request, whatever its host, is served in-process by the fake;
	// the test sees which host it was sent to.
	type sent struct{ host, path string }
	setup := func(t *testing.T, apiURL string, opts ...zoomapi.Option) (*zoomapi.Client, func() []sent) {
		fake := zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited(), APIURL: apiURL})
		fake.SetURL("https://zoom.us")
		fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret, Users: 3})
		var mu sync.Mutex
		var got []sent
		rt := contract.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			if !strings.HasSuffix(r.URL.Path, "/oauth/token") {
				got = append(got, sent{r.URL.Scheme + "://" + r.URL.Host, r.URL.Path})
			}
			mu.Unlock()
			rec := httptest.NewRecorder()
			r2 := r.Clone(r.Context())
			r2.RequestURI = r.URL.RequestURI()
			fake.ServeHTTP(rec, r2)
			return rec.Result(), nil
		}))
		all := append([]zoomapi.Option{zoomapi.WithRateLimits(zoomapi.Unlimited()), zoomapi.WithRetryPolicy(fastRetries),
			zoomapi.WithHTTPClient(&http.Client{Transport: rt})}, opts...)
		c, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: acct, ClientID: clientID, ClientSecret: secret.New(clientSecret)}, all...)
		if err != nil {
			t.Fatal(err)
		}
		return c, func() []sent { mu.Lock(); defer mu.Unlock(); return append([]sent(nil), got...) }
	}
	cases := []struct {
		name     string
		apiURL   string // what the token answer says ("-": nothing)
		opts     []zoomapi.Option
		wantHost string
	}{
		{"explicit base URL wins over api_url", "https://api-eu.zoom.us", []zoomapi.Option{zoomapi.WithBaseURL("https://api-configured.example.com/v2")}, "https://api-configured.example.com"},
		{"explicit base URL, no api_url", "-", []zoomapi.Option{zoomapi.WithBaseURL("https://api-configured.example.com/v2")}, "https://api-configured.example.com"},
		{"empty WithBaseURL sets nothing", "https://api-eu.zoom.us", []zoomapi.Option{zoomapi.WithBaseURL("")}, "https://api-eu.zoom.us"},
		{"token's api_url", "https://api-eu.zoom.us", nil, "https://api-eu.zoom.us"},
		{"token's api_url with /v2 and a slash", "https://api-au.zoom.us/v2/", nil, "https://api-au.zoom.us"},
		{"no api_url: default", "-", nil, "https://api.zoom.us"},
		{"api_url over http refused", "http://api-eu.zoom.us", nil, "https://api.zoom.us"},
		{"api_url off zoom.us refused", "https://api.evil.example", nil, "https://api.zoom.us"},
		{"api_url lookalike refused", "https://zoom.us.evil.example", nil, "https://api.zoom.us"},
		{"api_url with a user refused", "https://user:pw@api-eu.zoom.us", nil, "https://api.zoom.us"},
		{"api_url with another path refused", "https://api-eu.zoom.us/other", nil, "https://api.zoom.us"},
		{"api_url garbage refused", "::not a url", nil, "https://api.zoom.us"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, got := setup(t, tc.apiURL, tc.opts...)
			ctx := context.Background()
			if _, _, err := c.Users.Get(ctx, zoomfake.UserIDFor(acct, 1)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Users.List(ctx, nil); err != nil {
				t.Fatal(err)
			}
			s := got()
			if len(s) != 2 {
				t.Fatalf("sent %v", s)
			}
			for _, r := range s {
				if r.host != tc.wantHost || !strings.HasPrefix(r.path, "/v2/users") {
					t.Errorf("sent to %s%s, want %s/v2/users…", r.host, r.path, tc.wantHost)
				}
			}
		})
	}
}

func TestRefusedAPIURLIsLoggedOnceWithoutItsPassword(t *testing.T) {
	// Every request is served in-process by the fake, whatever its host.
	fake := zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited(), APIURL: "https://user:hunter2@api.evil.example"})
	fake.SetURL("https://zoom.us")
	fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret, Users: 3})
	rt := contract.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		r2 := r.Clone(r.Context())
		r2.RequestURI = r.URL.RequestURI()
		fake.ServeHTTP(rec, r2)
		return rec.Result(), nil
	}))
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	c := newClient(t, zoomapi.WithHTTPClient(&http.Client{Transport: rt}), zoomapi.WithLogger(logger))
	ctx := context.Background()
	for range 2 {
		if _, _, err := c.Users.List(ctx, nil); err != nil {
			t.Fatal(err)
		}
		fake.ExpireAccessTokens() // the next call fetches another token with the same api_url
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, "ignoring the api_url"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the api_url's password was logged:\n%s", out)
	}
	if c.BaseURL() != zoomapi.DefaultBaseURL {
		t.Errorf("base URL %s, want the default", c.BaseURL())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestAPIURLOnTheTokenEndpointsHostIsAccepted(t *testing.T) {
	// A fake (or a test double) on the token endpoint's own host: its
	// api_url is followed, with no base URL configured.
	fake := zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited()})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret, Users: 3})
	c := newClient(t, zoomapi.WithTokenURL(fake.TokenURL()))
	if _, _, err := c.Users.List(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if c.BaseURL() != srv.URL+"/v2" {
		t.Fatalf("base URL %s, want %s/v2", c.BaseURL(), srv.URL)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPresenceOfASignedOutUserIsOffline(t *testing.T) {
	// Zoom answers Offline, which the document's description lists and its
	// enum does not (allow-list entry presence-offline).
	b := setupFake(t, 20, zoomfake.Options{})
	pr, _, err := b.client.Users.GetPresence(context.Background(), zoomfake.UserIDFor(acct, 19))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Status != "Offline" {
		t.Fatalf("status %q, want Offline", pr.Status)
	}
}

func TestNullEntriesInAListAreDropped(t *testing.T) {
	// {"users":[null]} decodes to a nil pointer: a page with one must not
	// crash the client or anything that reads the page.
	fake := zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/users", "/v2/phone/users", "/v2/contact_center/users":
			w.Header().Set("Content-Type", "application/json")
			id := `"id":"u1"`
			if r.URL.Path == "/v2/contact_center/users" {
				id = `"user_id":"u1"`
			}
			_, _ = io.WriteString(w, `{"next_page_token":"","page_size":300,"total_records":1,"users":[null,{`+id+`,"email":"a@example.com"},null]}`)
		default:
			fake.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret})
	c := newClient(t, zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()))
	ctx := context.Background()
	n := 0
	for p, err := range c.Users.Pages(ctx, zoomapi.ListUsersOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Users)
	}
	for _, err := range c.Phone.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	for _, err := range c.ContactCenter.AllUsers(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d users, want 3 (one per listing)", n)
	}
}
