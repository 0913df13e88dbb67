package zoomapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Default endpoints.
const (
	DefaultBaseURL  = "https://api.zoom.us/v2"
	DefaultTokenURL = "https://zoom.us/oauth/token"
)

const (
	maxErrorBody   = 64 << 10  // error bodies are small; cap what we read
	maxSuccessBody = 256 << 20 // a 2,000-user page is a few MB; guard against runaway bodies
)

// Client talks to the Zoom REST API on behalf of one account.
type Client struct {
	Users         *UsersService
	Phone         *PhoneService
	ContactCenter *ContactCenterService

	creds    Credentials
	baseURL  atomic.Pointer[url.URL] // REST base in use; see apiHost
	explicit bool                    // baseURL was set by WithBaseURL: never replaced by the token's api_url
	tokenURL *url.URL
	http     *http.Client
	clock    clockwork.Clock
	logger   *slog.Logger
	retry    RetryPolicy
	observer Observer
	tokens   *tokenSource
	limiters [3][3]*limiter

	hostMu       sync.Mutex
	rejectedHost string // the last api_url refused, so that it is logged once
}

type service struct{ client *Client }

// UsersService covers /users endpoints.
type UsersService service

// PhoneService covers /phone/users endpoints.
type PhoneService service

// ContactCenterService covers /contact_center endpoints.
type ContactCenterService service

// RetryPolicy bounds retries. Waits use the client's clock.
type RetryPolicy struct {
	MaxAttempts int           // attempts for 5xx and transport errors, first included
	BaseDelay   time.Duration // first backoff; doubles per attempt, with full jitter
	MaxDelay    time.Duration // backoff cap
	QPSRetries  int           // QPS 429s absorbed per call before giving up
	QPSWait     time.Duration // wait after a QPS 429, plus up to as much jitter
}

// DefaultRetryPolicy is used unless WithRetryPolicy says otherwise.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, BaseDelay: 250 * time.Millisecond, MaxDelay: 10 * time.Second,
		QPSRetries: 12, QPSWait: time.Second}
}

// Attempt describes one HTTP attempt, for metrics.
type Attempt struct {
	AccountID     string
	Method        string
	Endpoint      string // route template, e.g. "/users/{userId}"
	Family        Family
	Label         Label
	Status        int    // 0 on transport error
	RateLimitType string // on 429: QPS or Daily-limit
	Duration      time.Duration
}

// Observer is told about every HTTP attempt and token fetch.
type Observer interface {
	Attempt(Attempt)
	TokenFetch(accountID string, d time.Duration, err error)
}

// Option configures NewClient.
type Option func(*options) error

type options struct {
	baseURL, tokenURL string
	http              *http.Client
	clock             clockwork.Clock
	logger            *slog.Logger
	limits            RateLimits
	retry             RetryPolicy
	margin            time.Duration
	observer          Observer
}

// WithBaseURL sets the REST base URL (regional hosts, or a fake in tests).
// A base URL set this way is used as given: the api_url that Zoom returns
// with each token never replaces it. An empty u sets nothing: the client
// follows the token's api_url, else uses DefaultBaseURL.
func WithBaseURL(u string) Option {
	return func(o *options) error {
		if u != "" {
			o.baseURL = u
		}
		return nil
	}
}

// WithTokenURL sets the OAuth token endpoint.
func WithTokenURL(u string) Option { return func(o *options) error { o.tokenURL = u; return nil } }

// WithHTTPClient sets the HTTP client (default: 30 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(o *options) error { o.http = c; return nil } }

// WithClock sets the clock for token expiry, pacing and backoff.
func WithClock(c clockwork.Clock) Option { return func(o *options) error { o.clock = c; return nil } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithRateLimits sets the client-side limits (default BusinessLimits).
func WithRateLimits(r RateLimits) Option { return func(o *options) error { o.limits = r; return nil } }

// WithRetryPolicy sets retry bounds and waits.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(o *options) error {
		if p.MaxAttempts < 1 || p.QPSRetries < 0 || p.BaseDelay < 0 || p.MaxDelay < p.BaseDelay || p.QPSWait < 0 {
			return fmt.Errorf("invalid retry policy %+v", p)
		}
		o.retry = p
		return nil
	}
}

// WithTokenRefreshMargin sets how long before expiry a token is replaced
// (default 5 minutes).
func WithTokenRefreshMargin(d time.Duration) Option {
	return func(o *options) error { o.margin = d; return nil }
}

// WithObserver sets the metrics hook.
func WithObserver(obs Observer) Option {
	return func(o *options) error { o.observer = obs; return nil }
}

// NewClient returns a client for one account.
func NewClient(creds Credentials, opts ...Option) (*Client, error) {
	o := options{
		tokenURL: DefaultTokenURL,
		limits:   BusinessLimits(), retry: DefaultRetryPolicy(), margin: 5 * time.Minute,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, errs.E("zoomapi.NewClient", errs.Invalid, err)
		}
	}
	if creds.AccountID == "" || creds.ClientID == "" || creds.ClientSecret.IsZero() {
		return nil, errs.Errorf("zoomapi.NewClient", errs.Invalid, "account id, client id and client secret are required")
	}
	explicit := o.baseURL != ""
	if !explicit {
		o.baseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimSuffix(o.baseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errs.Errorf("zoomapi.NewClient", errs.Invalid, "base URL %q is not an absolute http(s) URL", o.baseURL)
	}
	tokenURL, err := url.Parse(o.tokenURL)
	if err != nil || (tokenURL.Scheme != "http" && tokenURL.Scheme != "https") || tokenURL.Host == "" {
		return nil, errs.Errorf("zoomapi.NewClient", errs.Invalid, "token URL %q is not an absolute http(s) URL", o.tokenURL)
	}
	if o.http == nil {
		o.http = &http.Client{Timeout: 30 * time.Second}
	}
	if o.clock == nil {
		o.clock = clockwork.NewRealClock()
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		creds: creds, explicit: explicit, tokenURL: tokenURL, http: o.http, clock: o.clock,
		logger: o.logger.With(slog.String("account_id", creds.AccountID)), retry: o.retry, observer: o.observer,
	}
	c.baseURL.Store(base)
	c.tokens = newTokenSource(creds, o.tokenURL, o.http, o.clock, o.margin, c.logger)
	c.tokens.onAPIURL = c.adoptAPIURL
	if c.observer != nil {
		c.tokens.onFetch = func(d time.Duration, err error) { c.observer.TokenFetch(creds.AccountID, d, err) }
	}
	for f := range c.limiters {
		for l := range c.limiters[f] {
			c.limiters[f][l] = newLimiter(o.clock, o.limits[f][l])
		}
	}
	c.Users = &UsersService{client: c}
	c.Phone = &PhoneService{client: c}
	c.ContactCenter = &ContactCenterService{client: c}
	return c, nil
}

// AccountID is the account this client serves.
func (c *Client) AccountID() string { return c.creds.AccountID }

// BaseURL is the REST base URL the client sends to now: the one set with
// WithBaseURL, else the api_url of the last token (once one was fetched),
// else DefaultBaseURL.
func (c *Client) BaseURL() string { return c.baseURL.Load().String() }

// Response is a successful answer's metadata.
type Response struct {
	*http.Response
	TrackingID string
}

// endpoint names what is being called, for limits, errors and metrics.
type endpoint struct {
	op     string // "zoomapi.Users.List"
	route  string // "/users/{userId}"
	family Family
	label  Label
}

// call performs one API call with pacing, token handling and retries.
// path is relative to the base URL; out (may be nil) receives the JSON body.
func (c *Client) call(ctx context.Context, ep endpoint, method, path string, query url.Values, in, out any) (*Response, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, errs.E(ep.op, errs.Invalid, err)
		}
	}
	lim := c.limiters[ep.family][ep.label]
	var (
		transient    int  // 5xx and transport failures so far
		qps          int  // QPS 429s so far
		tokenRetried bool // a rejected token was replaced once already
	)
	for {
		if err := lim.wait(ctx); err != nil {
			return nil, err
		}
		tok, err := c.tokens.token(ctx)
		if err != nil {
			if errs.Retryable(err) && transient+1 < c.retry.MaxAttempts {
				transient++
				if werr := sleep(ctx, c.clock, c.backoff(transient)); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, err
		}
		// path's segments are escaped once by the caller (url.PathEscape);
		// the URL is built as text so that nothing escapes them again. The
		// base is read per attempt: the token just fetched may have moved
		// the account to its regional host.
		base := c.baseURL.Load()
		reqPath := base.EscapedPath() + path
		rawURL := base.Scheme + "://" + base.Host + reqPath
		if q := query.Encode(); q != "" {
			rawURL += "?" + q
		}
		resp, respBody, err := c.send(ctx, ep, method, rawURL, tok, body)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if transient+1 < c.retry.MaxAttempts {
				transient++
				c.logger.Debug("Zoom API transport error; retrying", slog.String("op", ep.op), slog.String("error", err.Error()))
				if werr := sleep(ctx, c.clock, c.backoff(transient)); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, &Error{Op: ep.op, Method: method, Path: reqPath, Kind: errs.Transient, Err: err}
		}
		if resp.StatusCode/100 == 2 {
			r := &Response{Response: resp, TrackingID: resp.Header.Get("x-zm-trackingid")}
			if out != nil && len(respBody) > 0 {
				if err := json.Unmarshal(respBody, out); err != nil {
					return r, &Error{Op: ep.op, Method: method, Path: reqPath, HTTPStatus: resp.StatusCode,
						TrackingID: r.TrackingID, Kind: errs.Permanent, Message: "undecodable answer", Err: err}
				}
			}
			return r, nil
		}
		apiErr := responseError(ep.op, method, reqPath, resp, respBody)
		switch {
		case apiErr.Kind == errs.RateLimited:
			apiErr.RateLimitType = resp.Header.Get("X-RateLimit-Type")
			apiErr.RetryAt = parseRetryAfter(resp.Header.Get("Retry-After"), c.clock.Now())
			if strings.EqualFold(apiErr.RateLimitType, "Daily-limit") {
				if apiErr.RetryAt.IsZero() {
					// No reset time given: Zoom's daily limits reset at 00:00 UTC.
					apiErr.RetryAt = c.clock.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
				}
				lim.block(apiErr)
				c.logger.Warn("Zoom daily rate limit reached; failing fast until reset",
					slog.String("op", ep.op), slog.Time("retry_at", apiErr.RetryAt))
				return nil, apiErr
			}
			if qps >= c.retry.QPSRetries {
				return nil, apiErr
			}
			qps++
			wait := c.retry.QPSWait + rand.N(c.retry.QPSWait+1)
			if at := apiErr.RetryAt; !at.IsZero() && at.Sub(c.clock.Now()) > wait {
				wait = at.Sub(c.clock.Now())
			}
			lim.pause(c.clock.Now().Add(wait))
		case isTokenRejected(apiErr) && !tokenRetried:
			tokenRetried = true
			c.tokens.invalidate(ctx, tok)
		case apiErr.Kind == errs.Transient && transient+1 < c.retry.MaxAttempts:
			transient++
			if werr := sleep(ctx, c.clock, c.backoff(transient)); werr != nil {
				return nil, werr
			}
		default:
			return nil, apiErr
		}
	}
}

// send performs one HTTP attempt and reads the body.
func (c *Client) send(ctx context.Context, ep endpoint, method, u, tok string, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "zoomsync")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := c.clock.Now()
	resp, err := c.http.Do(req)
	var respBody []byte
	if err == nil {
		limit := int64(maxSuccessBody)
		if resp.StatusCode/100 != 2 {
			limit = maxErrorBody
		}
		respBody, err = io.ReadAll(io.LimitReader(resp.Body, limit))
		resp.Body.Close()
	}
	if c.observer != nil {
		a := Attempt{AccountID: c.creds.AccountID, Method: method, Endpoint: ep.route, Family: ep.family,
			Label: ep.label, Duration: c.clock.Since(start)}
		if resp != nil {
			a.Status = resp.StatusCode
			a.RateLimitType = resp.Header.Get("X-RateLimit-Type")
		}
		c.observer.Attempt(a)
	}
	if err != nil {
		return nil, nil, err
	}
	return resp, respBody, nil
}

// backoff is full-jitter exponential: uniform in [0, min(max, base·2^(n-1))]
// (an interval of half that, randomized by a factor of 1).
func (c *Client) backoff(n int) time.Duration {
	b := &backoff.ExponentialBackOff{InitialInterval: c.retry.BaseDelay / 2, RandomizationFactor: 1, Multiplier: 2, MaxInterval: c.retry.MaxDelay / 2}
	var d time.Duration
	for range min(max(n, 1), 63) {
		d = b.NextBackOff()
	}
	return d
}

// parseRetryAfter reads Retry-After as delta seconds, RFC 3339 (Zoom's
// daily limit) or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return now.Add(time.Duration(secs) * time.Second)
	}
	for _, layout := range []string{time.RFC3339Nano, http.TimeFormat, time.RFC1123} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

var errNoID = errors.New("empty user id or email")

// getOne GETs the resource at prefix + id + suffix into a new T; id (a user
// id or email) is escaped as one path segment.
func getOne[T any](ctx context.Context, c *Client, ep endpoint, prefix, id, suffix string) (*T, *Response, error) {
	if id == "" {
		return nil, nil, errs.E(ep.op, errs.Invalid, errNoID)
	}
	v := new(T)
	resp, err := c.call(ctx, ep, "GET", prefix+url.PathEscape(id)+suffix, nil, nil, v)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}
