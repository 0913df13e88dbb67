package graphfake

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Throttled resource classes.
const (
	classPresence = "presence"
	classUsers    = "users"
)

type throttleKey struct{ tenant, client, class string }

// window is a sliding window log: the times of the units accepted within
// the last span (at most limit of them, so memory is bounded).
type window struct {
	limit int
	span  time.Duration
	times []time.Time // oldest first
}

func (w *window) trim(now time.Time) {
	cut := 0
	for cut < len(w.times) && !w.times[cut].After(now.Add(-w.span)) {
		cut++
	}
	if cut > 0 {
		w.times = append(w.times[:0], w.times[cut:]...)
	}
}

// take admits cost units now, or says how long until they fit.
func (w *window) take(now time.Time, cost int) (bool, time.Duration) {
	w.trim(now)
	if len(w.times)+cost <= w.limit {
		for range cost {
			w.times = append(w.times, now)
		}
		return true, 0
	}
	// The units free up as the oldest leave the window.
	need := len(w.times) + cost - w.limit
	return false, w.times[min(need, len(w.times))-1].Add(w.span).Sub(now)
}

// admit charges a call to its class's window (s.mu held). It returns a 429
// answer when the app is over its limit in the tenant.
func (s *Server) admit(tok *issuedToken, class string, cost int) *answer {
	limit, span := s.opts.PresenceLimit, s.opts.PresenceWindow
	if class == classUsers {
		limit, span = s.opts.UserLimit, 10*time.Second
	}
	if limit < 0 {
		return nil
	}
	k := throttleKey{tok.tenant.id, strings.ToLower(tok.clientID), class}
	w := s.throttle[k]
	if w == nil {
		w = &window{limit: limit, span: span}
		s.throttle[k] = w
	}
	now := s.clock.Now()
	okay, wait := w.take(now, cost)
	if !okay {
		s.stats.Throttled++
		secs := int(math.Ceil(wait.Seconds()))
		a := graphErr(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		a.header = map[string]string{"Retry-After": strconv.Itoa(max(secs, 1))}
		return a
	}
	if class == classPresence {
		s.stats.PresenceCalls++
		s.stats.MaxPresenceLoad = max(s.stats.MaxPresenceLoad, len(w.times))
	} else {
		s.stats.UserCalls++
	}
	return nil
}
