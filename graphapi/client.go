package graphapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Default hosts (the global cloud). National clouds have their own: US
// Government L4 graph.microsoft.us / login.microsoftonline.us, L5 (DoD)
// dod-graph.microsoft.us; China (21Vianet) has no presence API.
const (
	DefaultGraphURL = "https://graph.microsoft.com/v1.0"
	DefaultLoginURL = "https://login.microsoftonline.com"
)

// MaxBatch is the most requests one $batch may hold.
const MaxBatch = 20

// outageHold: after Graph failed to answer (5xx without Retry-After, a
// network error), presence calls wait this long, so an outage costs a
// probe every few seconds rather than every queued user's retries.
const outageHold = 5 * time.Second

// Client calls Microsoft Graph for one app registration in one tenant.
type Client struct {
	creds         Credentials
	graphURL      string
	http          *http.Client
	clock         clockwork.Clock
	logger        *slog.Logger
	tokens        *tokenSource
	budget        Budget
	users         *rate.Limiter
	maxInlineWait time.Duration
	onResult      func(op string, status int)
}

// Option configures a Client.
type Option func(*clientConfig)

type clientConfig struct {
	graphURL, loginURL string
	http               *http.Client
	clock              clockwork.Clock
	logger             *slog.Logger
	budget             Budget
	userRate           float64
	maxInlineWait      time.Duration
	onResult           func(string, int)
	onToken            func(error)
}

// WithGraphURL sets the Graph base (default DefaultGraphURL; a national
// cloud's, or a fake's).
func WithGraphURL(u string) Option { return func(c *clientConfig) { c.graphURL = u } }

// WithLoginURL sets the token endpoint's base (default DefaultLoginURL).
func WithLoginURL(u string) Option { return func(c *clientConfig) { c.loginURL = u } }

// WithHTTPClient sets the HTTP client (default: 10 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *clientConfig) { c.http = h } }

// WithClock sets the clock (tokens, budget, Retry-After).
func WithClock(cl clockwork.Clock) Option { return func(c *clientConfig) { c.clock = cl } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *clientConfig) { c.logger = l } }

// WithBudget sets the presence budget (default: a LocalBudget of Graph's
// presence limit).
func WithBudget(b Budget) Option { return func(c *clientConfig) { c.budget = b } }

// WithUserRate sets the user reads per second (default 100; 0 or less:
// unlimited). Graph allows 8,000 units per 10 s per app and tenant.
func WithUserRate(perSecond float64) Option { return func(c *clientConfig) { c.userRate = perSecond } }

// WithMaxInlineWait: a 429 whose Retry-After ends within this is waited
// for and the call sent again; a later one is returned (default 2 s).
func WithMaxInlineWait(d time.Duration) Option { return func(c *clientConfig) { c.maxInlineWait = d } }

// WithOnResult is told the HTTP status of every Graph answer (top-level
// and inside batches) by operation, for metrics.
func WithOnResult(f func(op string, status int)) Option {
	return func(c *clientConfig) { c.onResult = f }
}

// WithOnToken is told the outcome of every token fetch.
func WithOnToken(f func(error)) Option { return func(c *clientConfig) { c.onToken = f } }

// New returns a Client for creds.
func New(creds Credentials, opts ...Option) (*Client, error) {
	cfg := clientConfig{graphURL: DefaultGraphURL, loginURL: DefaultLoginURL, userRate: 100, maxInlineWait: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = clockwork.NewRealClock()
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.http == nil {
		cfg.http = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.budget == nil {
		cfg.budget = NewLocalBudget(cfg.clock, 0, 0)
	}
	if creds.TenantID == "" || creds.ClientID == "" {
		return nil, errs.Errorf("graphapi.New", errs.Invalid, "tenant id and client id are required")
	}
	if creds.Secret == nil && creds.Certificate == nil {
		return nil, errs.Errorf("graphapi.New", errs.Invalid, "a client secret or a certificate is required")
	}
	for _, u := range []string{cfg.graphURL, cfg.loginURL} {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil || p.RawQuery != "" {
			return nil, errs.Errorf("graphapi.New", errs.Invalid, "%s: want an http(s)://host[/path] URL", redactURL(u))
		}
	}
	// Every answer's body is read whole and bounded; redirects are not
	// followed (a redirect would carry the bearer token elsewhere).
	hc := *cfg.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{creds: creds, graphURL: strings.TrimRight(cfg.graphURL, "/"), http: &hc, clock: cfg.clock, logger: cfg.logger,
		budget: cfg.budget, maxInlineWait: cfg.maxInlineWait, onResult: cfg.onResult}
	if cfg.userRate > 0 {
		c.users = rate.NewLimiter(rate.Limit(cfg.userRate), max(1, int(cfg.userRate)))
	}
	c.tokens = &tokenSource{creds: creds, http: &hc, clock: cfg.clock, onFetch: cfg.onToken, sem: make(chan struct{}, 1),
		tokenURL: strings.TrimRight(cfg.loginURL, "/") + "/" + url.PathEscape(creds.TenantID) + "/oauth2/v2.0/token"}
	return c, nil
}

// ClientID is the app's client id (the sessionId of its presence sessions).
func (c *Client) ClientID() string { return c.creds.ClientID }

// Call is one Graph request, sent alone (Do) or in a $batch (DoBatch).
type Call struct {
	Op     string // for errors and metrics, e.g. "SetPresence"
	Method string
	Path   string // escaped, relative to the Graph base, with its query
	Body   any    // JSON; nil: none
	Out    any    // the JSON answer is decoded into it; nil: discarded

	presence bool // takes a presence budget slot
	users    bool // takes a user-read slot
	// gone404: a 404 is success (clearPresence: already clear).
	gone404 bool
}

// Do sends one call.
func (c *Client) Do(ctx context.Context, call *Call) error {
	return c.DoBatch(ctx, []*Call{call})[0]
}

// DoBatch sends calls, in $batch requests of up to 20 when there are
// several, and returns each call's error (nil: done) in order. Calls are
// independent: none depends on another.
func (c *Client) DoBatch(ctx context.Context, calls []*Call) []error {
	out := make([]error, len(calls))
	pending := make([]int, len(calls))
	for i := range pending {
		pending[i] = i
	}
	tries := make([]int, len(calls))
	for round := 0; len(pending) > 0; round++ {
		var again []int
		var resume time.Time
		for len(pending) > 0 {
			chunk, err := c.admit(ctx, calls, pending)
			if err != nil {
				for _, i := range pending {
					out[i] = err
				}
				return out
			}
			pending = pending[len(chunk):]
			var res []result
			if len(chunk) == 1 {
				res = []result{c.send(ctx, calls[chunk[0]])}
			} else {
				res = c.sendBatch(ctx, calls, chunk)
			}
			for k, i := range chunk {
				r := res[k]
				out[i] = r.err
				if r.err == nil || tries[i] >= 3 || ctx.Err() != nil {
					continue
				}
				switch {
				case r.outage:
					at := errs.RetryAt(r.err)
					if at.IsZero() {
						at = c.clock.Now().Add(outageHold)
					}
					c.budget.Hold(ctx, at)
				case r.resend:
					tries[i]++
					again = append(again, i)
				case errs.Is(errs.RateLimited, r.err):
					at := errs.RetryAt(r.err)
					if !at.IsZero() {
						c.budget.Hold(ctx, at)
					}
					if !at.IsZero() && at.Sub(c.clock.Now()) <= c.maxInlineWait {
						tries[i]++
						again = append(again, i)
						resume = later(resume, at)
					}
				}
			}
		}
		if len(again) == 0 {
			break
		}
		if err := sleep(ctx, c.clock, resume.Sub(c.clock.Now())); err != nil {
			break
		}
		pending = again
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// admit takes the budget slots for the next chunk of pending calls (at
// most MaxBatch; fewer when the budget grants fewer presence calls now).
func (c *Client) admit(ctx context.Context, calls []*Call, pending []int) ([]int, error) {
	n := min(len(pending), MaxBatch)
	presence := 0
	for _, i := range pending[:n] {
		if calls[i].presence {
			presence++
		}
	}
	if presence > 0 {
		got, err := c.budget.Take(ctx, presence)
		if err != nil {
			return nil, err
		}
		if got < presence { // cut the chunk after its got-th presence call
			seen := 0
			for k, i := range pending[:n] {
				if calls[i].presence {
					seen++
					if seen == got {
						n = k + 1
						break
					}
				}
			}
		}
	}
	for _, i := range pending[:n] {
		if calls[i].users && c.users != nil {
			if err := c.userSlot(ctx); err != nil {
				return nil, err
			}
		}
	}
	return pending[:n], nil
}

func (c *Client) userSlot(ctx context.Context) error {
	now := c.clock.Now()
	r := c.users.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		if err := sleep(ctx, c.clock, d); err != nil {
			r.CancelAt(c.clock.Now())
			return err
		}
	}
	return nil
}

// result is one call's outcome; resend: send it again now (a 424, or a
// 401 answered once with a fresh token).
type result struct {
	err    error
	resend bool
	outage bool // Graph did not answer the request itself (5xx, network)
}

// send sends one call on its own; a 401 is sent once more with a fresh
// token.
func (c *Client) send(ctx context.Context, call *Call) result {
	op := "graphapi." + call.Op
	var body []byte
	if call.Body != nil {
		b, err := json.Marshal(call.Body)
		if err != nil {
			return result{err: &Error{Op: op, Kind: errs.Invalid, Err: err}}
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		status, header, ans, tok, err := c.roundTrip(ctx, op, call.Method, c.graphURL+call.Path, body)
		if err != nil {
			return result{err: err, outage: isOutage(err)}
		}
		c.observe(call.Op, status)
		if status == http.StatusUnauthorized && attempt == 0 {
			c.tokens.invalidate(tok)
			continue
		}
		return result{err: c.finish(op, call, status, header, ans), outage: status >= 500}
	}
}

// finish turns an answer into the call's outcome.
func (c *Client) finish(op string, call *Call, status int, header http.Header, body []byte) error {
	switch {
	case status/100 == 2:
		if call.Out != nil && len(body) > 0 {
			if err := json.Unmarshal(body, call.Out); err != nil {
				return &Error{Op: op, Status: status, Kind: errs.Transient, Message: "answer is not the expected JSON", RequestID: header.Get("request-id")}
			}
		}
		return nil
	case status == http.StatusNotFound && call.gone404:
		return nil
	}
	return decodeError(op, status, header, body, c.clock.Now())
}

func (c *Client) observe(op string, status int) {
	if c.onResult != nil {
		c.onResult(op, status)
	}
}

// roundTrip sends one HTTP request with the bearer token and reads the
// answer (bounded).
func (c *Client) roundTrip(ctx context.Context, op, method, rawURL string, body []byte) (int, http.Header, []byte, string, error) {
	tok, err := c.tokens.token(ctx)
	if err != nil {
		return 0, nil, nil, "", err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return 0, nil, nil, tok, &Error{Op: op, Kind: errs.Invalid, Message: "bad request URL"}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "zoomsync")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, tok, ctx.Err()
		}
		return 0, nil, nil, tok, &Error{Op: op, Kind: errs.Transient, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, nil, tok, &Error{Op: op, Kind: errs.Transient, Status: resp.StatusCode, Err: err}
	}
	return resp.StatusCode, resp.Header, ans, tok, nil
}

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchAnswer struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

// sendBatch sends 2..20 calls as one $batch and returns their outcomes in
// chunk order. An outer failure is every call's.
func (c *Client) sendBatch(ctx context.Context, calls []*Call, chunk []int) []result {
	const op = "graphapi.Batch"
	res := make([]result, len(chunk))
	reqs := make([]batchRequest, len(chunk))
	for k, i := range chunk {
		call := calls[i]
		reqs[k] = batchRequest{ID: strconv.Itoa(k + 1), Method: call.Method, URL: call.Path}
		if call.Body != nil {
			b, err := json.Marshal(call.Body)
			if err != nil {
				res[k].err = &Error{Op: "graphapi." + call.Op, Kind: errs.Invalid, Err: err}
				continue
			}
			reqs[k].Body, reqs[k].Headers = b, map[string]string{"Content-Type": "application/json"}
		}
	}
	body, _ := json.Marshal(map[string]any{"requests": reqs})
	var status int
	var header http.Header
	var ans []byte
	for attempt := 0; ; attempt++ {
		var tok string
		var err error
		status, header, ans, tok, err = c.roundTrip(ctx, op, http.MethodPost, c.graphURL+"/$batch", body)
		if err != nil {
			for k := range res {
				if res[k].err == nil {
					res[k] = result{err: err, outage: isOutage(err)}
				}
			}
			return res
		}
		c.observe("Batch", status)
		if status == http.StatusUnauthorized && attempt == 0 {
			c.tokens.invalidate(tok)
			continue
		}
		break
	}
	if status/100 != 2 {
		e := decodeError(op, status, header, ans, c.clock.Now())
		for k := range res {
			if res[k].err == nil {
				res[k] = result{err: e, outage: status >= 500}
			}
		}
		return res
	}
	var ba batchAnswer
	if err := json.Unmarshal(ans, &ba); err != nil {
		e := &Error{Op: op, Status: status, Kind: errs.Transient, Message: "batch answer is not JSON", RequestID: header.Get("request-id")}
		for k := range res {
			res[k].err = e
		}
		return res
	}
	seen := make([]bool, len(chunk))
	for _, r := range ba.Responses {
		k, err := strconv.Atoi(r.ID)
		if err != nil || k < 1 || k > len(chunk) || seen[k-1] {
			continue // not an id we sent, or a second answer to one: ignored
		}
		k--
		seen[k] = true
		if res[k].err != nil {
			continue
		}
		call := calls[chunk[k]]
		c.observe(call.Op, r.Status)
		h := http.Header{}
		for name, v := range r.Headers {
			h.Set(name, v)
		}
		if h.Get("request-id") == "" {
			h.Set("request-id", header.Get("request-id"))
		}
		switch r.Status {
		case http.StatusFailedDependency:
			res[k] = result{err: decodeError("graphapi."+call.Op, r.Status, h, r.Body, c.clock.Now()), resend: true}
		case http.StatusUnauthorized:
			res[k] = result{err: decodeError("graphapi."+call.Op, r.Status, h, r.Body, c.clock.Now()), resend: true}
		default:
			res[k].err = c.finish("graphapi."+call.Op, call, r.Status, h, r.Body)
		}
	}
	for k := range res {
		if !seen[k] && res[k].err == nil {
			res[k].err = &Error{Op: "graphapi." + calls[chunk[k]].Op, Kind: errs.Transient, Message: "the batch answer has no response for this request",
				RequestID: header.Get("request-id")}
		}
	}
	return res
}

// isOutage reports a failure to reach Graph (not the token endpoint's
// refusal, nor a cancelled context).
func isOutage(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == errs.Transient && e.Op != "graphapi.token"
}

// userPath is /users/{key} with key escaped once. Graph reads a key
// starting with '$' as a system query option: such a UPN is addressed as
// /users('$…') (user-get).
func userPath(key string) string {
	e := url.PathEscape(key)
	if strings.HasPrefix(key, "$") {
		return "/users('" + strings.ReplaceAll(e, "'", "''") + "')"
	}
	return "/users/" + e
}

// odataString quotes a value for $filter: quotes doubled.
func odataString(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// errorf is an Invalid error of op.
func errorf(op, format string, args ...any) error {
	return &Error{Op: "graphapi." + op, Kind: errs.Invalid, Message: fmt.Sprintf(format, args...)}
}
