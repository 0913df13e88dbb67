package graphfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// MaxBatch is the most requests one $batch may hold.
const MaxBatch = 20

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// batch answers POST /v1.0/$batch.
func (s *Server) batch(w http.ResponseWriter, reqID string, tok *issuedToken, raw []byte) {
	now := s.clock.Now()
	fail := func(msg string) { graphErr(http.StatusBadRequest, "BadRequest", msg).write(w, reqID, now) }
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("Invalid batch payload format.")
		return
	}
	switch n := len(in.Requests); {
	case n == 0:
		fail("Invalid batch payload format: no requests.")
		return
	case n > MaxBatch:
		fail(fmt.Sprintf("The number of batch requests (%d) exceeds the limit of %d.", n, MaxBatch))
		return
	}
	byID := map[string]*batchRequest{}
	for i := range in.Requests {
		r := &in.Requests[i]
		if r.ID == "" {
			fail("Each request of a batch needs an id.")
			return
		}
		if byID[r.ID] != nil {
			fail(fmt.Sprintf("Request id %q is used more than once in the batch.", r.ID))
			return
		}
		byID[r.ID] = r
		if strings.Contains(r.URL, "://") || r.URL == "" {
			fail(fmt.Sprintf("Request %q: the url must be relative to the version (as /users/{id}).", r.ID))
			return
		}
		if len(r.Body) > 0 && string(r.Body) != "null" && contentType(r.Headers) == "" {
			fail(fmt.Sprintf("Write request id : %s does not contain Content-Type header or body.", r.ID))
			return
		}
	}
	for _, r := range in.Requests {
		for _, d := range r.DependsOn {
			if byID[d] == nil || d == r.ID {
				fail(fmt.Sprintf("Request %q depends on %q, which is not in the batch.", r.ID, d))
				return
			}
		}
	}
	s.mu.Lock()
	s.stats.BatchRequests += len(in.Requests)
	s.mu.Unlock()

	done := map[string]int{} // id → status
	var out []batchResponse
	var events []PresenceEvent
	for len(done) < len(in.Requests) {
		progressed := false
		for i := range in.Requests {
			r := &in.Requests[i]
			if _, ok := done[r.ID]; ok {
				continue
			}
			ready, failed := true, false
			for _, d := range r.DependsOn {
				st, ok := done[d]
				if !ok {
					ready = false
				} else if st/100 != 2 {
					failed = true
				}
			}
			if !ready {
				continue
			}
			progressed = true
			if failed {
				done[r.ID] = http.StatusFailedDependency
				out = append(out, batchResponse{ID: r.ID, Status: http.StatusFailedDependency,
					Body: graphErr(http.StatusFailedDependency, "FailedDependency", "A request this one depends on failed.").stamp(reqID, now)})
				continue
			}
			a, evs := s.inner(tok, r)
			events = append(events, evs...)
			done[r.ID] = a.status
			br := batchResponse{ID: r.ID, Status: a.status, Headers: a.header}
			if a.body != nil {
				br.Body = a.stamp(reqID, now)
				if br.Headers == nil {
					br.Headers = map[string]string{}
				}
				br.Headers["Content-Type"] = "application/json"
			}
			out = append(out, br)
		}
		if !progressed {
			fail("The dependsOn of the batch's requests form a cycle.")
			return
		}
	}
	s.mu.Lock()
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"responses": out})
	s.tell(events)
}

// inner runs one request of a batch.
func (s *Server) inner(tok *issuedToken, r *batchRequest) (*answer, []PresenceEvent) {
	u, err := url.Parse("/" + strings.TrimPrefix(r.URL, "/"))
	if err != nil {
		return graphErr(http.StatusBadRequest, "BadRequest", "The url does not parse."), nil
	}
	var body []byte
	if len(r.Body) > 0 && string(r.Body) != "null" {
		body = r.Body
	}
	return s.call(tok, strings.ToUpper(r.Method), u.Path, u.Query(), contentType(r.Headers), body)
}

func contentType(h map[string]string) string {
	for k, v := range h {
		if strings.EqualFold(k, "Content-Type") {
			return v
		}
	}
	return ""
}
