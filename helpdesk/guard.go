package helpdesk

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/secret"
)

// apiGuard authenticates helpdesk API calls with bearer tokens and limits
// each token's request rate.
type apiGuard struct {
	tokens   []secret.Secret
	limiters []*rate.Limiter // per token; nil: unlimited
}

// newAPIGuard guards with tokens, each allowed perSecond requests (burst
// twice that); perSecond 0 means unlimited.
func newAPIGuard(tokens []secret.Secret, perSecond float64) *apiGuard {
	g := &apiGuard{tokens: tokens, limiters: make([]*rate.Limiter, len(tokens))}
	if perSecond > 0 {
		for i := range g.limiters {
			g.limiters[i] = rate.NewLimiter(rate.Limit(perSecond), max(1, int(2*perSecond)))
		}
	}
	return g
}

// tokenKey is the context key under which wrap passes the index of the
// request's token to the handler (the stream's per-token cap).
type tokenKey struct{}

// tokenOf is the index of the token the request was authenticated with
// (-1 outside wrap).
func tokenOf(r *http.Request) int {
	if i, ok := r.Context().Value(tokenKey{}).(int); ok {
		return i
	}
	return -1
}

// bearer returns the credentials of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive (RFC 9110 §11.1), so "bearer"
// and "BEARER" work as well.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// wrap requires a valid token (compared in constant time with each of
// them, so timing does not tell which prefix matched) and the token's rate
// limit. No tokens configured: everything is refused.
func (g *apiGuard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		match := -1
		for i, t := range g.tokens {
			if subtle.ConstantTimeCompare([]byte(got), []byte(t.Reveal())) == 1 {
				match = i
			}
		}
		if !ok || match < 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="zoomsync"`)
			apiError(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required (ZOOMSYNC_API_TOKENS)")
			return
		}
		if l := g.limiters[match]; l != nil && !l.Allow() {
			w.Header().Set("Retry-After", "1")
			apiError(w, http.StatusTooManyRequests, "rate_limited", "this token's request limit is reached (ZOOMSYNC_API_RATE_LIMIT); retry shortly")
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, match)))
	})
}
