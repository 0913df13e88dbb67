package zoomapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// benchPageAll pages every status of a 100,000-user account from a fake
// Zoom listening on loopback, with the given limits on both sides.
func benchPageAll(b *testing.B, fakeLimits zoomfake.Limits, clientLimits zoomapi.RateLimits) {
	fake, err := zoomfake.Start(zoomfake.Options{Limits: fakeLimits})
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	const users = 100_000
	fake.AddAccount(zoomfake.AccountSpec{ID: acct, ClientID: clientID, ClientSecret: clientSecret, Users: users})
	ctx := context.Background()
	b.ResetTimer()
	var pages, seen int
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		// A fresh client per pass: its limiter starts empty, as a resync's would.
		c, err := zoomapi.NewClient(zoomapi.Credentials{AccountID: acct, ClientID: clientID, ClientSecret: secret.New(clientSecret)},
			zoomapi.WithBaseURL(fake.APIBaseURL()), zoomapi.WithTokenURL(fake.TokenURL()), zoomapi.WithRateLimits(clientLimits))
		if err != nil {
			b.Fatal(err)
		}
		fake.ResetStats()
		pages, seen = 0, 0
		start := time.Now()
		for p, err := range c.Users.AllStatuses(ctx, zoomapi.DefaultPageSize) {
			if err != nil {
				b.Fatal(err)
			}
			pages++
			seen += len(p.Users)
		}
		elapsed += time.Since(start)
		if seen != users {
			b.Fatalf("saw %d users, want %d", seen, users)
		}
	}
	st := fake.Stats()
	perPass := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(float64(pages), "pages")
	b.ReportMetric(perPass, "s/pass")
	b.ReportMetric(float64(users)/perPass, "users/s")
	if medium := clientLimits.Get(zoomapi.FamilyUsers, zoomapi.Medium); medium > 0 {
		floor := float64(pages) / medium
		b.ReportMetric(floor, "floor-s")
		b.ReportMetric(perPass/floor, "x-floor")
	}
	b.ReportMetric(float64(st.TooManyQPS+st.TooManyDaily), "429s")
}

// BenchmarkPageAllUsers100k: a full pass under Business+ limits on both
// sides. The reference is the rate-limit floor, pages ÷ Medium QPS; the
// goal is x-floor ≤ 1.1 with zero 429s.
func BenchmarkPageAllUsers100k(b *testing.B) {
	benchPageAll(b, zoomfake.BusinessLimits(), zoomapi.BusinessLimits())
}

// BenchmarkPageAllUsers100kUnlimited: the same pass with no limits, to show
// how far the client and fake are from the floor.
func BenchmarkPageAllUsers100kUnlimited(b *testing.B) {
	benchPageAll(b, zoomfake.Unlimited(), zoomapi.Unlimited())
}
