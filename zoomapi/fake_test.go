package zoomapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

const (
	acct         = "acct-A"
	clientID     = "client-A"
	clientSecret = "s3cr3t-A+/="
)

type fakeBundle struct {
	fake   *zoomfake.Server
	acct   *zoomfake.Account
	client *zoomapi.Client
}

// fastRetries keeps the absorbing behaviour but with millisecond waits.
var fastRetries = zoomapi.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
	QPSRetries: 12, QPSWait: time.Millisecond}

// setupFake starts a fake Zoom with one account of n generated users and a
// client for it. Neither side rate-limits unless opts say so.
func setupFake(t *testing.T, n int, fakeOpts zoomfake.Options, opts ...zoomapi.Option) *fakeBundle {
	t.Helper()
	if fakeOpts.Limits == (zoomfake.Limits{}) {
		fakeOpts.Limits = zoomfake.Unlimited()
	}
	fake := zoomfake.New(fakeOpts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	a := fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret, WebhookSecret: "wh", Users: n})
	all := append([]zoomapi.Option{
		zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()),
		zoomapi.WithRateLimits(zoomapi.Unlimited()), zoomapi.WithRetryPolicy(fastRetries),
		zoomapi.WithHTTPClient(&http.Client{Transport: contract.Transport(nil)}),
	}, opts...)
	c, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: acct, ClientID: clientID, ClientSecret: secret.New(clientSecret)}, all...)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeBundle{fake: fake, acct: a, client: c}
}

// addActiveUsers creates n active users with deterministic emails.
func addActiveUsers(a *zoomfake.Account, n int) {
	for i := 0; i < n; i++ {
		a.CreateUser(zoomfake.User{Email: fmt.Sprintf("user%05d@example.com", i), FirstName: "U", LastName: fmt.Sprint(i)})
	}
}

func TestTenThousandUsersOver34PagesWithOneTokenFetch(t *testing.T) {
	b := setupFake(t, 0, zoomfake.Options{})
	addActiveUsers(b.acct, 10_000)
	ctx := context.Background()
	seen := map[string]bool{}
	pages := 0
	for p, err := range b.client.Users.Pages(ctx, zoomapi.ListUsersOptions{Status: zoomapi.StatusActive, PageSize: 300}) {
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range p.Users {
			if seen[u.ID] {
				t.Fatalf("user %s yielded twice", u.ID)
			}
			seen[u.ID] = true
		}
	}
	st := b.fake.Stats()
	if len(seen) != 10_000 || pages != 34 {
		t.Fatalf("users %d pages %d, want 10000 over 34", len(seen), pages)
	}
	if st.TokenFetches[acct] != 1 || st.APIRequests != 34 {
		t.Fatalf("token fetches %d, API requests %d; want 1 and 34", st.TokenFetches[acct], st.APIRequests)
	}
}

func TestExpiredPageTokenRestartsAndYieldsEachUserOnce(t *testing.T) {
	t.Run("ExpirePageTokens", func(t *testing.T) {
		b := setupFake(t, 0, zoomfake.Options{})
		addActiveUsers(b.acct, 10_000)
		checkRestart(t, b, b.fake.ExpirePageTokens)
	})
	t.Run("fifteen minutes pass", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		b := setupFake(t, 0, zoomfake.Options{Clock: clock}, zoomapi.WithClock(clock))
		addActiveUsers(b.acct, 10_000)
		checkRestart(t, b, func() { clock.Advance(16 * time.Minute) })
	})
}

func checkRestart(t *testing.T, b *fakeBundle, expire func()) {
	t.Helper()
	counts := map[string]int{}
	pages := 0
	for u, err := range b.client.Users.All(context.Background(), zoomapi.ListUsersOptions{PageSize: 300}) {
		if err != nil {
			t.Fatal(err)
		}
		counts[u.ID]++
		if len(counts)%300 == 0 && len(counts)/300 == 5 && pages == 0 {
			pages++
			expire() // between page 5 and page 6
		}
	}
	if len(counts) != 10_000 {
		t.Fatalf("yielded %d distinct users, want 10000", len(counts))
	}
	for id, n := range counts {
		if n != 1 {
			t.Fatalf("user %s yielded %d times", id, n)
		}
	}
	st := b.fake.Stats()
	if st.PageTokenErrors != 1 {
		t.Fatalf("page token errors %d, want exactly the one restart", st.PageTokenErrors)
	}
	// 34 pages, plus the refused one, plus the 5 pages read again.
	if st.APIRequests != 34+1+5 {
		t.Fatalf("API requests %d, want 40", st.APIRequests)
	}
}

func TestQPSStormIsAbsorbed(t *testing.T) {
	b := setupFake(t, 0, zoomfake.Options{})
	addActiveUsers(b.acct, 3_000)
	b.fake.SetFaults(zoomfake.Faults{StormQPS: 10})
	n := 0
	for _, err := range b.client.Users.All(context.Background(), zoomapi.ListUsersOptions{}) {
		if err != nil {
			t.Fatalf("a QPS storm reached the caller: %v", err)
		}
		n++
	}
	if st := b.fake.Stats(); n != 3_000 || st.TooManyQPS != 10 {
		t.Fatalf("users %d 429s %d, want 3000 and 10", n, st.TooManyQPS)
	}
}

func TestDailyLimitFailsFastUntilReset(t *testing.T) {
	b := setupFake(t, 10, zoomfake.Options{})
	reset := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	b.fake.SetFaults(zoomfake.Faults{DailyLimitUntil: reset})
	u := b.acct.Users()[0]
	_, _, err := b.client.Users.Get(context.Background(), u.ID)
	var zerr *zoomapi.Error
	if !errors.As(err, &zerr) || zerr.Kind != errs.RateLimited || zerr.RateLimitType != "Daily-limit" {
		t.Fatalf("got %v, want a Daily-limit rate-limited error", err)
	}
	if !errs.RetryAt(err).Equal(reset) || zerr.Code != 429 || zerr.TrackingID == "" {
		t.Fatalf("retry at %v code %d tracking %q; want %v", errs.RetryAt(err), zerr.Code, zerr.TrackingID, reset)
	}
	before := b.fake.Stats().APIRequests
	// Another endpoint of the same label is blocked without a request.
	if _, _, err := b.client.Users.Get(context.Background(), u.Email); !errs.Is(errs.RateLimited, err) || !errs.RetryAt(err).Equal(reset) {
		t.Fatalf("second call: %v", err)
	}
	if after := b.fake.Stats().APIRequests; after != before {
		t.Fatalf("blocked call sent %d requests", after-before)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	for _, status := range []int{500, 502, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			b := setupFake(t, 10, zoomfake.Options{})
			u := b.acct.Users()[0]
			b.fake.SetFaults(zoomfake.Faults{FailNext: 2, Status: status})
			got, _, err := b.client.Users.Get(context.Background(), u.ID)
			if err != nil || got.Email != u.Email {
				t.Fatalf("Get after two %ds: %v", status, err)
			}
			if st := b.fake.Stats(); st.APIRequests != 3 || st.ServerErrors != 2 {
				t.Fatalf("requests %d errors %d, want 3 and 2", st.APIRequests, st.ServerErrors)
			}
		})
	}
	t.Run("gives up after MaxAttempts", func(t *testing.T) {
		b := setupFake(t, 10, zoomfake.Options{})
		b.fake.SetFaults(zoomfake.Faults{FailNext: 100})
		_, _, err := b.client.Users.Get(context.Background(), b.acct.Users()[0].ID)
		if !errs.Is(errs.Transient, err) || b.fake.Stats().APIRequests != fastRetries.MaxAttempts {
			t.Fatalf("err %v after %d requests", err, b.fake.Stats().APIRequests)
		}
	})
}

func TestNotFoundIsNotRetried(t *testing.T) {
	b := setupFake(t, 10, zoomfake.Options{})
	_, _, err := b.client.Users.Get(context.Background(), "nobody@example.com")
	var zerr *zoomapi.Error
	if !errors.As(err, &zerr) || zerr.Kind != errs.NotFound || zerr.Code != zoomapi.CodeUserNotFound || zerr.HTTPStatus != 404 {
		t.Fatalf("got %#v", err)
	}
	if !strings.Contains(err.Error(), "User does not exist") || !strings.Contains(err.Error(), "tracking id") {
		t.Fatalf("error text %q lacks Zoom's message or tracking id", err)
	}
	if n := b.fake.Stats().APIRequests; n != 1 {
		t.Fatalf("%d requests for a 404, want 1", n)
	}
}

func TestOneTokenFetchForHundredConcurrentCallers(t *testing.T) {
	b := setupFake(t, 100, zoomfake.Options{})
	users := b.acct.Users()
	var wg sync.WaitGroup
	errc := make(chan error, len(users))
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := b.client.Users.Get(context.Background(), u.Email)
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := b.fake.Stats().TokenFetches[acct]; n != 1 {
		t.Fatalf("%d token fetches for 100 concurrent callers, want 1", n)
	}
}

func TestRejectedTokenIsRefetchedOnce(t *testing.T) {
	b := setupFake(t, 10, zoomfake.Options{})
	ctx := context.Background()
	u := b.acct.Users()[0]
	if _, _, err := b.client.Users.Get(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	b.fake.ExpireAccessTokens() // Zoom revoked it: next call gets 401 code 124
	if _, _, err := b.client.Users.Get(ctx, u.ID); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	st := b.fake.Stats()
	if st.TokenFetches[acct] != 2 || st.Unauthorized != 1 {
		t.Fatalf("fetches %d unauthorized %d, want 2 and 1", st.TokenFetches[acct], st.Unauthorized)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	clock := clockwork.NewFakeClock()
	b := setupFake(t, 10, zoomfake.Options{Clock: clock}, zoomapi.WithClock(clock), zoomapi.WithTokenRefreshMargin(5*time.Minute))
	ctx := context.Background()
	id := b.acct.Users()[0].ID
	get := func() {
		t.Helper()
		if _, _, err := b.client.Users.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	get()
	clock.Advance(54 * time.Minute) // 6 minutes left: reused
	get()
	if n := b.fake.Stats().TokenFetches[acct]; n != 1 {
		t.Fatalf("fetches %d, want 1", n)
	}
	clock.Advance(2 * time.Minute) // 4 minutes left: inside the margin
	get()
	if st := b.fake.Stats(); st.TokenFetches[acct] != 2 || st.Unauthorized != 0 {
		t.Fatalf("fetches %d unauthorized %d, want 2 and 0 (refreshed before Zoom refused it)", st.TokenFetches[acct], st.Unauthorized)
	}
}

func TestBadCredentials(t *testing.T) {
	b := setupFake(t, 1, zoomfake.Options{})
	c, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: acct, ClientID: clientID, ClientSecret: secret.New("wrong")},
		zoomapi.WithBaseURL(b.fake.APIBaseURL()), zoomapi.WithTokenURL(b.fake.TokenURL()), zoomapi.WithRetryPolicy(fastRetries))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Users.Get(context.Background(), "x")
	if !errs.Is(errs.Auth, err) || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("got %v", err)
	}
	if b.fake.Stats().APIRequests != 0 {
		t.Fatal("an API request was made without a token")
	}
}

func TestTokenEndpointOutageIsRetried(t *testing.T) {
	b := setupFake(t, 1, zoomfake.Options{})
	b.fake.SetFaults(zoomfake.Faults{FailTokens: 2})
	if _, _, err := b.client.Users.Get(context.Background(), b.acct.Users()[0].ID); err != nil {
		t.Fatalf("after two token-endpoint 503s: %v", err)
	}
}

func TestPacingAtBusinessLimitsCausesNo429(t *testing.T) {
	// Both sides enforce Business+ limits; 10 goroutines read presence
	// (Medium, 60/s) 13 times each: 130 requests, about 2.2 s.
	b := setupFake(t, 10, zoomfake.Options{Limits: zoomfake.BusinessLimits()}, zoomapi.WithRateLimits(zoomapi.BusinessLimits()))
	users := b.acct.Users()
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 13; i++ {
				if _, _, err := b.client.Users.GetPresence(context.Background(), users[g].ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := b.fake.Stats(); st.TooManyQPS != 0 || st.APIRequests != 130 {
		t.Fatalf("429s %d requests %d, want 0 and 130", st.TooManyQPS, st.APIRequests)
	}
}

func TestAllStatusesPhoneAndContactCenter(t *testing.T) {
	b := setupFake(t, 1000, zoomfake.Options{})
	ctx := context.Background()
	want := map[string]int{}
	for _, u := range b.acct.Users() {
		want[u.Status]++
	}
	got := map[string]int{}
	pendingWithoutID := 0
	for p, err := range b.client.Users.AllStatuses(ctx, 300) {
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Users {
			got[u.Status]++
			if u.Status == zoomapi.StatusPending && u.ID == "" && u.Key() != "" {
				pendingWithoutID++
			}
		}
		if p.RequestedAt.IsZero() {
			t.Fatal("page without RequestedAt")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pendingWithoutID != want["pending"] || want["pending"] != 20 || want["inactive"] != 30 {
		t.Fatalf("statuses %v, want %v; pending without id %d", got, want, pendingWithoutID)
	}

	phones := 0
	for pu, err := range b.client.Phone.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if pu.ExtensionNumber == "" || pu.ID == "" {
			t.Fatalf("phone user %+v", pu)
		}
		phones++
	}
	agents := 0
	var agentID string
	for a, err := range b.client.ContactCenter.AllUsers(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		agents++
		agentID = a.UserID
	}
	if phones != 800 || agents != 100 {
		t.Fatalf("phone users %d agents %d, want 800 and 100", phones, agents)
	}
	if err := b.client.ContactCenter.UpdateStatus(ctx, agentID, zoomapi.StatusUpdate{StatusID: "2"}); err != nil {
		t.Fatal(err)
	}
	a, _, err := b.client.ContactCenter.GetUser(ctx, agentID)
	if err != nil || a.StatusID != "2" || a.StatusName != "Not Ready" {
		t.Fatalf("after PATCH: %+v %v", a, err)
	}
	if err := b.client.ContactCenter.UpdateStatus(ctx, agentID, zoomapi.StatusUpdate{StatusID: "99"}); !errs.Is(errs.Permanent, err) {
		t.Fatalf("unknown status id: %v", err)
	}
	statuses, err := b.client.ContactCenter.ListStatuses(ctx)
	if err != nil || len(statuses) != 5 {
		t.Fatalf("statuses %v %v", statuses, err)
	}

	if err := b.acct.SetPresence(agentID, "In_Meeting"); err != nil {
		t.Fatal(err)
	}
	p, _, err := b.client.Users.GetPresence(ctx, agentID)
	if err != nil || p.Status != "In_A_Zoom_Meeting" {
		t.Fatalf("presence %+v %v", p, err)
	}
	full, _, err := b.client.Users.Get(ctx, agentID)
	if err != nil || full.AccountID != acct || len(full.PhoneNumbers) == 0 {
		t.Fatalf("full user %+v %v", full, err)
	}
}

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	c := zoomapi.Credentials{AccountID: "a", ClientID: "c", ClientSecret: secret.New("hunter2")}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), c.LogValue().String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}
