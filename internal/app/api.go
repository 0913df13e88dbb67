package app

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/secret"
)

// requireToken wraps h with bearer-token authentication: the token must
// equal one of tokens (compared in constant time, each of them, so timing
// does not tell which prefix matched). No tokens configured: everything
// is refused.
func requireToken(tokens []secret.Secret, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		match := 0
		for _, t := range tokens {
			match |= subtle.ConstantTimeCompare([]byte(got), []byte(t.Reveal()))
		}
		if !ok || match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="zoomsync"`)
			apiError(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required (ZOOMSYNC_API_TOKENS)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: msg}})
}

// postResync starts a full resync now (202 with the run id).
func (r *resyncer) postResync(w http.ResponseWriter, req *http.Request) {
	rec, err := r.start(req.Context(), "api")
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "could not record the run: Redis is unavailable")
		return
	}
	w.Header().Set("Location", "/v1/resync/"+rec.RunID)
	writeJSON(w, http.StatusAccepted, rec)
}

// getResync shows a run's progress and summary.
func (r *resyncer) getResync(w http.ResponseWriter, req *http.Request) {
	rec, err := r.load(req.Context(), req.PathValue("run_id"))
	switch {
	case errors.Is(err, redis.Nil):
		apiError(w, http.StatusNotFound, "not_found", "no resync run with that id (runs are kept 30 days)")
	case err != nil:
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
	default:
		writeJSON(w, http.StatusOK, rec)
	}
}
