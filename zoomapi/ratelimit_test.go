package zoomapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

func TestParseRateLimits(t *testing.T) {
	tests := []struct {
		name, plan, overrides string
		check                 func(RateLimits) bool
		wantErr               string
	}{
		{"default is business", "", "", func(r RateLimits) bool { return r == BusinessLimits() }, ""},
		{"pro", "pro", "", func(r RateLimits) bool { return r.Get(FamilyUsers, Medium) == 20 }, ""},
		{"free", "FREE", "", func(r RateLimits) bool { return r.Get(FamilyUsers, Heavy) == 1 }, ""},
		{"override users medium", "business", "medium=30", func(r RateLimits) bool {
			return r.Get(FamilyUsers, Medium) == 30 && r.Get(FamilyPhone, Medium) == 20
		}, ""},
		{"override families", "", " phone.medium=10 , cc.light=5.5,heavy=0", func(r RateLimits) bool {
			return r.Get(FamilyPhone, Medium) == 10 && r.Get(FamilyContactCenter, Light) == 5.5 && r.Get(FamilyUsers, Heavy) == 0
		}, ""},
		{"unknown plan", "gold", "", nil, `unknown plan "gold"`},
		{"missing equals", "", "medium", nil, `"medium": want [family.]label=number`},
		{"unknown family", "", "meetings.light=3", nil, `unknown family "meetings"`},
		{"unknown label", "", "phone.ultra=3", nil, `unknown label "ultra"`},
		{"negative", "", "light=-1", nil, `"light=-1": want a number`},
		{"not a number", "", "light=fast", nil, `"light=fast": want a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRateLimits(tt.plan, tt.overrides)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(got) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := map[string]time.Time{
		"":                              {},
		"30":                            now.Add(30 * time.Second),
		"2026-11-25T00:00:00Z":          time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		"Wed, 25 Nov 2026 00:00:00 GMT": time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		"soon":                          {},
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := parseRetryAfter(in, now); !got.Equal(want) {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", in, got, want)
			}
		})
	}
}

// TestLimiterPacesOnItsClock checks the spacing with a fake clock: at
// 10/s with burst 1, the 11th request waits until one second has passed.
func TestLimiterPacesOnItsClock(t *testing.T) {
	clock := clockwork.NewFakeClock()
	l := newLimiter(clock, 10)
	ctx := context.Background()
	start := clock.Now()
	for i := 0; i < 11; i++ {
		done := make(chan error, 1)
		go func() { done <- l.wait(ctx) }()
		if i > 0 {
			if err := clock.BlockUntilContext(ctx, 1); err != nil {
				t.Fatal(err)
			}
			clock.Advance(100 * time.Millisecond)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := clock.Since(start); got != time.Second {
		t.Fatalf("11 requests at 10/s took %v on the clock, want 1s", got)
	}
}

func TestLimiterPauseHoldsEveryone(t *testing.T) {
	clock := clockwork.NewFakeClock()
	l := newLimiter(clock, 0) // unlimited, but a QPS 429 still pauses
	l.pause(clock.Now().Add(time.Second))
	done := make(chan error, 1)
	go func() { done <- l.wait(context.Background()) }()
	if err := clock.BlockUntilContext(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("wait returned during the pause")
	default:
	}
	clock.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
