package helpdesk

import (
	"encoding/json"
	"net/http"
	"strings"
)

// JSONErrors turns the mux's own plain-text 404 and 405 answers into
// SPEC §4's JSON errors.
func JSONErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&errorRewriter{ResponseWriter: w}, r)
	})
}

type errorRewriter struct {
	http.ResponseWriter
	swallow bool
}

func (e *errorRewriter) WriteHeader(code int) {
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) && strings.HasPrefix(e.Header().Get("Content-Type"), "text/plain") {
		e.swallow = true
		e.Header().Del("X-Content-Type-Options")
		if code == http.StatusNotFound {
			apiError(e.ResponseWriter, code, "not_found", "no such endpoint (see /v1/openapi.json)")
		} else {
			apiError(e.ResponseWriter, code, "method_not_allowed", "this endpoint does not take "+"that method (see /v1/openapi.json)")
		}
		return
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.swallow {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

// Flush lets streaming answers (Server-Sent Events) through.
func (e *errorRewriter) Flush() {
	if f, ok := e.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (the stream
// sets its own deadlines).
func (e *errorRewriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func apiError(w http.ResponseWriter, status int, code, msg string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: msg}})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
