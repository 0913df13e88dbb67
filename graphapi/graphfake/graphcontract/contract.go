// Package graphcontract checks both sides of the traffic between
// zoomsync's Graph client and the fake Graph in tests against the team's
// transcription of Microsoft's documents
// (testdata/graph-openapi/graph-presence-notes.openapi.json, provenance
// in SOURCES.md there): every request, every answer, and each request and
// answer inside a $batch. A test binary installs a Checker with
// graphfake.Options.Wrap and fails when Deviations is not empty.
package graphcontract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

const (
	docFile   = "graph-presence-notes.openapi.json"
	routeHost = "graph.test"
)

// Checker validates traffic and collects deviations.
type Checker struct {
	router routers.Router

	mu         sync.Mutex
	deviations map[string]int
	checked    int
}

var (
	loadOnce sync.Once
	loaded   routers.Router
	loadErr  error
)

// New returns a Checker (the document is loaded once per process).
func New() (*Checker, error) {
	loadOnce.Do(func() { loaded, loadErr = load() })
	if loadErr != nil {
		return nil, loadErr
	}
	return &Checker{router: loaded, deviations: map[string]int{}}, nil
}

func load() (routers.Router, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, errors.New("graphcontract: no go.mod above the working directory")
		}
		dir = parent
	}
	raw, err := os.ReadFile(filepath.Join(dir, "testdata", "graph-openapi", docFile))
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", docFile, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s: %w", docFile, err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://" + routeHost}}
	return gorillamux.NewRouter(doc)
}

var options = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, SkipSettingDefaults: true}

func (c *Checker) report(side, op string, status int, msg string) {
	k := side + " " + op
	if status != 0 {
		k += fmt.Sprintf(" (HTTP %d)", status)
	}
	k += ": " + msg
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.deviations) < 200 {
		c.deviations[k]++
	}
}

// Deviations lists what deviated from the document.
func (c *Checker) Deviations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.deviations))
	for k, n := range c.deviations {
		out = append(out, fmt.Sprintf("%s (×%d)", k, n))
	}
	slices.Sort(out)
	return out
}

// Checked counts the requests and answers validated.
func (c *Checker) Checked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked
}

// route finds the documented operation of a request; /users('x') is
// routed as /users/x (the addressing form for keys starting with $).
func (c *Checker) route(r *http.Request) (*routers.Route, map[string]string, error) {
	rr := r.Clone(context.Background())
	u := *r.URL
	u.Scheme, u.Host = "http", routeHost
	if i := strings.Index(u.Path, "/users('"); i >= 0 {
		if j := strings.Index(u.Path[i:], "')"); j > 0 {
			u.Path = u.Path[:i] + "/users/" + u.Path[i+len("/users('"):i+j] + u.Path[i+j+2:]
			u.RawPath = ""
		}
	}
	rr.URL, rr.Host = &u, routeHost
	return c.router.FindRoute(rr)
}

func (c *Checker) checkRequest(r *http.Request, body []byte) {
	c.mu.Lock()
	c.checked++
	c.mu.Unlock()
	rt, params, err := c.route(r)
	if err != nil {
		c.report("request", r.Method+" "+r.URL.Path, 0, "no documented operation: "+err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: rt, Options: options}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		c.report("request", r.Method+" "+rt.Path, 0, oneLine(err))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
}

func (c *Checker) checkResponse(r *http.Request, status int, header http.Header, body []byte) {
	c.mu.Lock()
	c.checked++
	c.mu.Unlock()
	rt, params, err := c.route(r)
	if err != nil {
		return // reported with the request
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: rt, Options: options},
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: options,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.report("response", r.Method+" "+rt.Path, status, oneLine(err))
	}
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Handler wraps the fake: requests and answers are validated, and so is
// each request and answer inside a $batch.
func (c *Checker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.checkRequest(r, body)
		isBatch := strings.HasSuffix(r.URL.Path, "/$batch")
		var inner []innerRequest
		if isBatch {
			var b struct {
				Requests []innerRequest `json:"requests"`
			}
			_ = json.Unmarshal(body, &b)
			inner = b.Requests
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		out := rec.Body.Bytes()
		c.checkResponse(r, res.StatusCode, res.Header, out)
		if isBatch {
			c.checkInner(inner, res.StatusCode, out)
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(out)
	})
}

type innerRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func (c *Checker) checkInner(reqs []innerRequest, status int, out []byte) {
	var ans struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
	built := map[string]*http.Request{}
	for _, q := range reqs {
		r := httptest.NewRequest(q.Method, "http://"+routeHost+"/v1.0/"+strings.TrimPrefix(q.URL, "/"), bytes.NewReader(q.Body))
		for k, v := range q.Headers {
			r.Header.Set(k, v)
		}
		c.checkRequest(r, q.Body)
		built[q.ID] = r
	}
	if status != http.StatusOK || json.Unmarshal(out, &ans) != nil {
		return
	}
	for _, a := range ans.Responses {
		r := built[a.ID]
		if r == nil {
			c.report("response", "$batch", a.Status, "an answer with id "+a.ID+", which no request had")
			continue
		}
		h := http.Header{}
		for k, v := range a.Headers {
			h.Set(k, v)
		}
		var body []byte
		if len(a.Body) > 0 && string(a.Body) != "null" {
			body = a.Body
		}
		c.checkResponse(r, a.Status, h, body)
	}
}
