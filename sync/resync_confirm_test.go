package zsync

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// setupBehind is setupResync with the fake behind a handler the test
// chooses (what sits between zoomsync and Zoom), and a context that ends
// after maxRequests requests, so that a run which would never end fails.
func setupBehind(t *testing.T, users int, maxRequests int64, front func(fake http.Handler) http.Handler) (*resyncBundle, context.Context, *atomic.Int64) {
	t.Helper()
	fake := zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited()})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var n atomic.Int64
	h := front(fake)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > maxRequests {
			cancel()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	fake.SetURL(srv.URL)
	a := fake.AddAccount(zoomfake.AccountSpec{ID: "A", ClientID: "c", ClientSecret: "s", Users: users})
	c, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: "A", ClientID: "c", ClientSecret: secret.New("s")},
		zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()), zoomapi.WithRateLimits(zoomapi.Unlimited()),
		zoomapi.WithRetryPolicy(zoomapi.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, QPSRetries: 1, QPSWait: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	rdb := miniRDB(t)
	store := NewStore(rdb, 4, 2*time.Hour)
	return &resyncBundle{fake: fake, acct: a, store: store, puller: NewPuller(rdb, store, c, nil, nil), rdb: rdb}, ctx, &n
}

// TestResyncDeletesOnlyOnZoomsUserDoesNotExist: a user missing from the
// pull is deleted only when the confirming read is Zoom's own 404 with
// code 1001; a 404 from anything else keeps it, and the summary says why.
func TestResyncDeletesOnlyOnZoomsUserDoesNotExist(t *testing.T) {
	cases := []struct {
		name       string
		answer     func(w http.ResponseWriter) // nil: the fake's own answer (1001)
		wantStatus string
		wantReason string
	}{
		{"Zoom's 404 code 1001", nil, StatusDeleted, ""},
		{"404 without a body", func(w http.ResponseWriter) { w.WriteHeader(404) }, "active", "1 unconfirmed: HTTP 404 without Zoom's body"},
		{"404 page of a proxy", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(404)
			fmt.Fprint(w, "<html><body><h1>404 Not Found</h1>nginx</body></html>")
		}, "active", "1 unconfirmed: HTTP 404 without Zoom's body"},
		{"404 with JSON that is not Zoom's", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":"not found","path":"/v2/users/x"}`)
		}, "active", "1 unconfirmed: HTTP 404 without Zoom's body"},
		{"404 with another Zoom code", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"code":2300,"message":"This API endpoint is not recognized."}`)
		}, "active", "1 unconfirmed: HTTP 404 code 2300"},
		{"503", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			fmt.Fprint(w, `{"code":503,"message":"Service unavailable"}`)
		}, "active", "1 unconfirmed: HTTP 503 code 503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var goneID atomic.Value
			goneID.Store("")
			b, ctx, _ := setupBehind(t, 100, 10_000, func(fake http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if id := goneID.Load().(string); tc.answer != nil && id != "" && r.URL.Path == "/v2/users/"+id {
						tc.answer(w)
						return
					}
					fake.ServeHTTP(w, r)
				})
			})
			if _, err := b.puller.Pull(ctx); err != nil {
				t.Fatal(err)
			}
			gone := b.acct.Users()[10]
			if err := b.acct.DeleteUser(gone.ID); err != nil {
				t.Fatal(err)
			}
			goneID.Store(gone.ID)
			rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05})
			if err != nil {
				t.Fatalf("resync: %v (%s)", err, rep.Summary())
			}
			if got := b.status(t, gone.ID); got != tc.wantStatus {
				t.Fatalf("status %q, want %q (%s)", got, tc.wantStatus, rep.Summary())
			}
			if tc.wantReason == "" {
				if rep.Deleted != 1 || rep.Skipped != 0 {
					t.Fatalf("report %s", rep.Summary())
				}
				return
			}
			if rep.Deleted != 0 || rep.Skipped != 1 || !strings.Contains(rep.Summary(), "skipped 1 ("+tc.wantReason+")") {
				t.Fatalf("summary %q, want skipped 1 (%s)", rep.Summary(), tc.wantReason)
			}
		})
	}
}

// TestResyncEndsAndDeletesNothingWhenPagingLoops: a listing that hands back
// its next_page_token again, or runs far past total_records, fails the
// pull; the resync deletes nothing and ends.
func TestResyncEndsAndDeletesNothingWhenPagingLoops(t *testing.T) {
	for name, f := range map[string]zoomfake.Faults{
		"repeated next_page_token": {RepeatPageToken: true},
		"pages past total_records": {EndlessPages: true},
	} {
		t.Run(name, func(t *testing.T) {
			b, ctx, n := setupBehind(t, 1000, 2_000, func(fake http.Handler) http.Handler { return fake })
			if _, err := b.puller.Pull(ctx); err != nil {
				t.Fatal(err)
			}
			gone := b.acct.Users()[10]
			if err := b.acct.DeleteUser(gone.ID); err != nil {
				t.Fatal(err)
			}
			b.fake.SetFaults(f)
			start := n.Load()
			rep, err := b.puller.Resync(ctx, ResyncOptions{MaxDeleteFraction: 0.05})
			if ctx.Err() != nil {
				t.Fatalf("still paging after %d requests", n.Load()-start)
			}
			if err == nil || rep.Complete || rep.Deleted != 0 || !strings.Contains(rep.Refused, "the pull did not complete") {
				t.Fatalf("err %v, report %+v", err, rep)
			}
			if got := b.status(t, gone.ID); got != "active" {
				t.Fatalf("status %q after a failed pull", got)
			}
			t.Logf("%d requests: %v", n.Load()-start, err)
		})
	}
}
