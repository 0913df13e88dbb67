// Package contract checks both sides of zoomsync's Zoom traffic in tests
// against Zoom's own OpenAPI documents (testdata/zoom-openapi): every
// request the zoomapi client sends is validated against the operation it
// targets (path, query parameters, body), and every answer and webhook
// body the fake Zoom (package zoomfake) produces against the documented
// response and event schema.
//
// A deviation fails the test binary, unless testdata/zoom-openapi/
// allowlist.json lists it with its reason. A test binary opts in with one
// line:
//
//	func TestMain(m *testing.M) { os.Exit(contract.Run(m)) }
//
// which installs the check on every fake Zoom the binary creates (its
// handler and its webhooks) and reports what deviated when the tests end;
// client tests that talk to servers other than the fake wrap their
// transport with Transport. The documents are loaded and compiled once
// per process, each the first time a call needs it.
//
// Contact Center and the OAuth token endpoint have no published document
// in the material at hand: zoom-notes.openapi.json transcribes what the
// team's notes say of them, each operation naming its source.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// SkipRequestHeader on a request tells the fake's check not to validate
// that request: a test sending a malformed request on purpose, or
// Transport, which checked it already (the answer is still checked).
const SkipRequestHeader = "X-Contract-Skip-Request"

// Deviation is one difference between the traffic and the documents.
type Deviation struct {
	Side      string // request, response or event
	Operation string // "GET /users/{userId}", or an event name
	Status    int    // responses
	Message   string
}

func (d Deviation) String() string {
	s := d.Side + " " + d.Operation
	if d.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", d.Status)
	}
	return s + ": " + d.Message
}

// Checker validates traffic and collects deviations.
type Checker struct {
	allow *allowList

	mu         sync.Mutex
	deviations map[string]*counted // by String()
	allowed    map[string]int      // allow-list entry id → uses

	requests, responses, eventsSeen atomic.Int64
}

type counted struct {
	Deviation
	n int
}

// maxDeviations bounds what a Checker keeps: a broken fake repeats itself.
const maxDeviations = 200

// New returns a Checker with the allow-list of testdata/zoom-openapi.
func New() (*Checker, error) {
	al, err := loadAllowList()
	if err != nil {
		return nil, err
	}
	return &Checker{allow: al, deviations: map[string]*counted{}, allowed: map[string]int{}}, nil
}

var (
	global     *Checker
	globalOnce sync.Once
	globalErr  error
)

// Global is the process's Checker (the one Run installs).
func Global() (*Checker, error) {
	globalOnce.Do(func() { global, globalErr = New() })
	return global, globalErr
}

// Run installs the process's Checker on every fake Zoom, runs the tests,
// and fails the binary (exit 1) when anything deviated.
func Run(m *testing.M) int {
	c, err := Global()
	if err != nil {
		fmt.Fprintln(os.Stderr, "contract:", err)
		return 1
	}
	zoomfake.SetContractCheck(c)
	code := m.Run()
	zoomfake.SetContractCheck(nil)
	if devs := c.Deviations(); len(devs) > 0 {
		fmt.Fprintf(os.Stderr, "contract: %d deviations from Zoom's documents (list a real one in testdata/zoom-openapi/%s with its reason):\n", len(devs), allowFile)
		for _, d := range devs {
			fmt.Fprintln(os.Stderr, "  "+d)
		}
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintln(os.Stderr, c.Summary())
	}
	return code
}

// Summary says what was checked.
func (c *Checker) Summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.allowed))
	for id, n := range c.allowed {
		ids = append(ids, fmt.Sprintf("%s×%d", id, n))
	}
	slices.Sort(ids)
	return fmt.Sprintf("contract: checked %d requests, %d answers, %d webhook bodies against Zoom's documents; allow-listed: %s",
		c.requests.Load(), c.responses.Load(), c.eventsSeen.Load(), strings.Join(ids, ", "))
}

// Deviations lists what deviated and was not allow-listed, with counts.
func (c *Checker) Deviations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.deviations))
	for k, d := range c.deviations {
		out = append(out, fmt.Sprintf("%s (×%d)", k, d.n))
	}
	slices.Sort(out)
	return out
}

// Reset forgets the deviations seen so far.
func (c *Checker) Reset() {
	c.mu.Lock()
	clear(c.deviations)
	c.mu.Unlock()
}

func (c *Checker) report(d Deviation) {
	if id := c.allow.match(d); id != "" {
		c.mu.Lock()
		c.allowed[id]++
		c.mu.Unlock()
		return
	}
	k := d.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.deviations[k]; ok {
		e.n++
		return
	}
	if len(c.deviations) < maxDeviations {
		c.deviations[k] = &counted{Deviation: d, n: 1}
	}
}

var filterOptions = &openapi3filter.Options{
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, // the fake checks the bearer token itself
	MultiError:         true,
	// Validation must not change the request: by default it writes the
	// documented defaults of missing query parameters into it.
	SkipSettingDefaults: true,
}

// CheckRequest validates one request (its body is read and put back).
func (c *Checker) CheckRequest(r *http.Request) {
	c.requests.Add(1)
	rt, params, err := route(r)
	if err != nil {
		c.report(Deviation{Side: "request", Operation: r.Method + " " + r.URL.EscapedPath(),
			Message: "no documented operation among those compiled (docs.go): " + err.Error()})
		return
	}
	op := r.Method + " " + rt.Path
	if r.Body != nil && r.Body != http.NoBody {
		b, rerr := io.ReadAll(r.Body)
		r.Body.Close()
		if rerr != nil {
			c.report(Deviation{Side: "request", Operation: op, Message: "unreadable body: " + rerr.Error()})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		defer func() { r.Body = io.NopCloser(bytes.NewReader(b)) }()
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: rt, Options: filterOptions}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		for _, msg := range leaves(err) {
			c.report(Deviation{Side: "request", Operation: op, Message: msg})
		}
	}
}

// CheckResponse validates one answer to r.
func (c *Checker) CheckResponse(r *http.Request, status int, header http.Header, body []byte) {
	c.responses.Add(1)
	if header.Get(zoomfake.FaultHeader) != "" {
		c.report(Deviation{Side: "response", Operation: "injected fault", Status: status, Message: header.Get(zoomfake.FaultHeader)})
		return
	}
	rt, params, err := route(r)
	if err != nil {
		if status/100 == 2 {
			c.report(Deviation{Side: "response", Operation: r.Method + " " + r.URL.EscapedPath(), Status: status,
				Message: "a successful answer to an undocumented operation"})
		}
		return // an error answer to an unknown path: nothing documents it
	}
	op := r.Method + " " + rt.Path
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: rt, Options: filterOptions},
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: filterOptions,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		for _, msg := range leaves(err) {
			c.report(Deviation{Side: "response", Operation: op, Status: status, Message: msg})
		}
	}
}

// Event validates one webhook body against its event's documented schema.
func (c *Checker) Event(name string, body []byte) {
	c.eventsSeen.Add(1)
	schema, err := eventSchema(name)
	if err != nil {
		c.report(Deviation{Side: "event", Operation: name, Message: err.Error()})
		return
	}
	if schema == nil {
		c.report(Deviation{Side: "event", Operation: name, Message: "no documented schema"})
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.report(Deviation{Side: "event", Operation: name, Message: "not JSON: " + err.Error()})
		return
	}
	if err := schema.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		for _, msg := range leaves(err) {
			c.report(Deviation{Side: "event", Operation: name, Message: msg})
		}
	}
}

// Handler wraps the fake's handler: requests are validated unless marked
// with SkipRequestHeader, answers always.
func (c *Checker) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(SkipRequestHeader) == "" {
			c.CheckRequest(r)
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		body := rec.Body.Bytes()
		c.CheckResponse(r, res.StatusCode, res.Header, body)
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}

// Transport validates every request before next sends it (next nil:
// http.DefaultTransport).
func (c *Checker) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		c.CheckRequest(r)
		// A fake with the check installed need not check it again.
		r2 := r.Clone(r.Context())
		r2.Header.Set(SkipRequestHeader, "checked by the client's transport")
		return next.RoundTrip(r2)
	})
}

// Transport is Global().Transport(next).
func Transport(next http.RoundTripper) http.RoundTripper {
	c, err := Global()
	if err != nil {
		panic(err)
	}
	return c.Transport(next)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// leaves flattens a validation error into one line per problem.
func leaves(err error) []string {
	var out []string
	var walk func(prefix string, err error)
	walk = func(prefix string, err error) {
		switch e := err.(type) {
		case nil:
			return
		case openapi3.MultiError:
			for _, x := range e {
				walk(prefix, x)
			}
			return
		case *openapi3filter.RequestError:
			if e.Parameter != nil {
				prefix += "parameter " + e.Parameter.Name + " (" + e.Parameter.In + "): "
			}
			if e.Err != nil {
				walk(prefix, e.Err)
				return
			}
		case *openapi3filter.ResponseError:
			if e.Err != nil {
				walk(prefix, e.Err)
				return
			}
		case *openapi3.SchemaError:
			line := prefix + pointer(e) + ": " + e.Reason
			if e.SchemaField == "oneOf" || e.SchemaField == "anyOf" {
				// Say why each alternative failed.
				line += ": " + strings.Join(leaves(e.Origin), " | ")
			} else {
				val, _ := json.Marshal(e.Value)
				if len(val) > 120 {
					val = append(val[:120], "…"...)
				}
				line += fmt.Sprintf(" (got %s)", val)
			}
			out = append(out, line)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(prefix, x)
			}
			return
		case interface{ Unwrap() error }:
			if inner := u.Unwrap(); inner != nil {
				walk(prefix, inner)
				return
			}
		}
		out = append(out, prefix+firstLine(err.Error()))
	}
	walk("", err)
	return out
}

// pointer is where in the value a schema error is; array indices are
// left out, so that one problem repeated over a page counts as one.
func pointer(e *openapi3.SchemaError) string {
	segs := slices.Clone(e.JSONPointer())
	for i, p := range segs {
		if _, err := strconv.Atoi(p); err == nil {
			segs[i] = "*"
		}
	}
	return "/" + strings.Join(segs, "/")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
