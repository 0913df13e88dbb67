package zoomapi

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"
)

// Family is a group of Zoom APIs with its own rate limits (zoom-api.md §6).
type Family int

// Families.
const (
	FamilyUsers         Family = iota // Users, Meetings and most of the platform
	FamilyPhone                       // Zoom Phone
	FamilyContactCenter               // Zoom Contact Center
)

var familyNames = [...]string{"users", "phone", "cc"}

func (f Family) String() string { return familyNames[f] }

// Label is an endpoint's rate-limit label.
type Label int

// Labels.
const (
	Light Label = iota
	Medium
	Heavy
)

var labelNames = [...]string{"light", "medium", "heavy"}

func (l Label) String() string { return labelNames[l] }

// Title is the spelling of X-RateLimit-Category ("Medium").
func (l Label) Title() string { return strings.ToUpper(labelNames[l][:1]) + labelNames[l][1:] }

// RateLimits are requests per second per (family, label); 0 disables the
// client-side limit for that label.
type RateLimits [3][3]float64

// Get returns the limit for (f, l).
func (r RateLimits) Get(f Family, l Label) float64 { return r[f][l] }

// BusinessLimits are Zoom's per-second limits for Business, Education,
// Enterprise and Partner accounts.
func BusinessLimits() RateLimits {
	return RateLimits{
		FamilyUsers:         {Light: 80, Medium: 60, Heavy: 40},
		FamilyPhone:         {Light: 40, Medium: 20, Heavy: 10},
		FamilyContactCenter: {Light: 40, Medium: 20, Heavy: 10},
	}
}

// ProLimits are Zoom's per-second limits for Pro accounts.
func ProLimits() RateLimits {
	return RateLimits{
		FamilyUsers:         {Light: 30, Medium: 20, Heavy: 10},
		FamilyPhone:         {Light: 20, Medium: 10, Heavy: 5},
		FamilyContactCenter: {Light: 20, Medium: 10, Heavy: 5},
	}
}

// FreeLimits are Zoom's per-second limits for free accounts.
func FreeLimits() RateLimits {
	return RateLimits{
		FamilyUsers:         {Light: 4, Medium: 2, Heavy: 1},
		FamilyPhone:         {Light: 4, Medium: 2, Heavy: 1},
		FamilyContactCenter: {Light: 4, Medium: 2, Heavy: 1},
	}
}

// Unlimited disables client-side pacing (for tests against a fake with no
// limits).
func Unlimited() RateLimits { return RateLimits{} }

// ParseRateLimits returns the limits of plan ("business", "pro", "free";
// empty means business) with overrides applied. Overrides are
// comma-separated "[family.]label=n" entries, family being phone or cc
// (absent: the users family), label light, medium or heavy, n ≥ 0 requests
// per second (0 disables the limit), e.g. "medium=30,phone.medium=10".
func ParseRateLimits(plan, overrides string) (RateLimits, error) {
	var lim RateLimits
	switch strings.ToLower(strings.TrimSpace(plan)) {
	case "", "business":
		lim = BusinessLimits()
	case "pro":
		lim = ProLimits()
	case "free":
		lim = FreeLimits()
	default:
		return lim, fmt.Errorf("unknown plan %q (want business, pro or free)", plan)
	}
	for _, entry := range strings.Split(overrides, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		key, val, ok := strings.Cut(entry, "=")
		if !ok {
			return lim, fmt.Errorf("%q: want [family.]label=number", entry)
		}
		fam, label := FamilyUsers, strings.ToLower(strings.TrimSpace(key))
		if f, l, ok := strings.Cut(label, "."); ok {
			switch f {
			case "phone":
				fam = FamilyPhone
			case "cc":
				fam = FamilyContactCenter
			default:
				return lim, fmt.Errorf("%q: unknown family %q (want phone or cc)", entry, f)
			}
			label = l
		}
		li := -1
		for i, n := range labelNames {
			if n == label {
				li = i
			}
		}
		if li < 0 {
			return lim, fmt.Errorf("%q: unknown label %q (want light, medium or heavy)", entry, label)
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
			return lim, fmt.Errorf("%q: want a number of requests per second ≥ 0", entry)
		}
		lim[fam][li] = n
	}
	return lim, nil
}

// limiter paces one (family, label) of one account.
type limiter struct {
	clock clockwork.Clock
	lim   *rate.Limiter // nil: unlimited

	mu           sync.Mutex
	pausedUntil  time.Time // after a QPS 429: everyone waits
	blockedUntil time.Time // after a Daily-limit 429: everyone fails fast
	blockErr     *Error
}

func newLimiter(clock clockwork.Clock, perSecond float64) *limiter {
	l := &limiter{clock: clock}
	if perSecond > 0 {
		// Burst 1: requests are spaced 1/perSecond apart, so no one-second
		// window ever holds more than perSecond requests.
		l.lim = rate.NewLimiter(rate.Limit(perSecond), 1)
	}
	return l
}

// wait blocks until a request may be sent. It returns the daily-limit
// error while the label is blocked.
func (l *limiter) wait(ctx context.Context) error {
	for {
		now := l.clock.Now()
		l.mu.Lock()
		blocked, blockErr, pause := l.blockedUntil, l.blockErr, l.pausedUntil.Sub(now)
		l.mu.Unlock()
		if now.Before(blocked) {
			e := *blockErr
			return &e
		}
		if pause > 0 {
			if err := sleep(ctx, l.clock, pause); err != nil {
				return err
			}
			continue
		}
		if l.lim == nil {
			return nil
		}
		r := l.lim.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			if err := sleep(ctx, l.clock, d); err != nil {
				r.CancelAt(l.clock.Now())
				return err
			}
		}
		return nil
	}
}

// pause makes every caller of this label wait until t (a QPS 429).
func (l *limiter) pause(t time.Time) {
	l.mu.Lock()
	if t.After(l.pausedUntil) {
		l.pausedUntil = t
	}
	l.mu.Unlock()
}

// block fails every call of this label fast until e.RetryAt (Daily-limit).
func (l *limiter) block(e *Error) {
	l.mu.Lock()
	l.blockedUntil, l.blockErr = e.RetryAt, e
	l.mu.Unlock()
}

// sleep waits d on clock or until ctx is done.
func sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.Chan():
		return nil
	}
}
