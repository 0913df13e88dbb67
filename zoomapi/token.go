package zoomapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// Credentials are one account's Server-to-Server OAuth app.
type Credentials struct {
	AccountID    string
	ClientID     string
	ClientSecret secret.Secret
}

// LogValue never includes the secret.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account_id", c.AccountID), slog.String("client_id", c.ClientID),
		slog.String("client_secret", c.ClientSecret.String()))
}

// String never includes the secret.
func (c Credentials) String() string {
	return fmt.Sprintf("{account_id:%s client_id:%s client_secret:%s}", c.AccountID, c.ClientID, c.ClientSecret)
}

type accessToken struct {
	value  string
	expiry time.Time // by the client's clock, margin not applied
	scope  string
}

// tokenSource caches one access token and fetches a new one when it is
// missing or within margin of its expiry. sem (capacity 1) admits one
// fetcher at a time; waiters give up when their context ends.
//
// The exchange is written out rather than done with x/oauth2's
// clientcredentials: that package query-escapes the client id and secret
// before Basic-encoding them (RFC 6749 §2.3.1), while Zoom expects
// base64(id:secret) of the raw values (Zoom's own SDK does exactly that),
// so a secret containing '+', '/' or '=' would be refused.
type tokenSource struct {
	creds    Credentials
	tokenURL string
	http     *http.Client
	clock    clockwork.Clock
	margin   time.Duration
	logger   *slog.Logger
	onFetch  func(time.Duration, error)
	onAPIURL func(string) // told the api_url of every fetched token

	sem chan struct{}
	cur *accessToken // guarded by sem
}

func newTokenSource(creds Credentials, tokenURL string, hc *http.Client, clock clockwork.Clock, margin time.Duration, logger *slog.Logger) *tokenSource {
	return &tokenSource{creds: creds, tokenURL: tokenURL, http: hc, clock: clock, margin: margin, logger: logger,
		sem: make(chan struct{}, 1)}
}

// token returns a valid access token, fetching one if needed.
func (ts *tokenSource) token(ctx context.Context) (string, error) {
	tok, err := ts.current(ctx)
	if err != nil {
		return "", err
	}
	return tok.value, nil
}

// current is the cached token, fetched first when missing or within
// margin of its expiry.
func (ts *tokenSource) current(ctx context.Context) (*accessToken, error) {
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-ts.sem }()
	if ts.cur != nil && ts.clock.Now().Before(ts.cur.expiry.Add(-ts.margin)) {
		return ts.cur, nil
	}
	tok, err := ts.fetch(ctx)
	if err != nil {
		return nil, err
	}
	ts.cur = tok
	return tok, nil
}

// invalidate forgets value if it is still the cached token; a newer token
// fetched meanwhile by another caller is kept.
func (ts *tokenSource) invalidate(ctx context.Context, value string) {
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if ts.cur != nil && ts.cur.value == value {
		ts.cur = nil
	}
	<-ts.sem
}

// tokenAnswer is the token endpoint's JSON: a token, or Zoom's
// {"reason","error"} on failure.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	APIURL      string `json:"api_url"`
	Reason      string `json:"reason"`
	Error       string `json:"error"`
	Code        int    `json:"code"`
	Message     string `json:"message"`
}

// decodeTokenAnswer reads the token endpoint's answer: a usable token, or
// an *Error (without Op, Method and Path) saying why not.
func decodeTokenAnswer(status int, trackingID string, body []byte) (*tokenAnswer, *Error) {
	var ans tokenAnswer
	jerr := json.Unmarshal(body, &ans)
	if status/100 != 2 {
		e := &Error{HTTPStatus: status, TrackingID: trackingID, Code: ans.Code}
		e.Message = strings.Trim(ans.Error+": "+ans.Reason, ": ")
		if e.Message == "" {
			e.Message = ans.Message
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
		e.Message = printable(e.Message)
		switch {
		case status == http.StatusTooManyRequests:
			e.Kind = errs.RateLimited
		case status >= 500:
			e.Kind = errs.Transient
		default:
			e.Kind = errs.Auth // bad client, secret, account or grant: retrying will not help
		}
		return nil, e
	}
	if jerr != nil || ans.AccessToken == "" || ans.ExpiresIn <= 0 {
		return nil, &Error{HTTPStatus: status, Kind: errs.Permanent, Message: "token endpoint answered without access_token or expires_in"}
	}
	if ans.ExpiresIn > maxTokenLifetime {
		ans.ExpiresIn = maxTokenLifetime // a nonsense lifetime must not keep a token forever
	}
	return &ans, nil
}

// maxTokenLifetime caps expires_in (Zoom says 3599 s) at a day.
const maxTokenLifetime = 24 * 60 * 60

func (ts *tokenSource) fetch(ctx context.Context) (tok *accessToken, err error) {
	return ts.fetchGrant(ctx, url.Values{"grant_type": {"account_credentials"}, "account_id": {ts.creds.AccountID}})
}

// fetchGrant asks the token endpoint for a token of the given grant.
func (ts *tokenSource) fetchGrant(ctx context.Context, form url.Values) (tok *accessToken, err error) {
	start := ts.clock.Now()
	defer func() {
		if ts.onFetch != nil {
			ts.onFetch(ts.clock.Since(start), err)
		}
	}()
	const op = "zoomapi.token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(ts.creds.ClientID, ts.creds.ClientSecret.Reveal()) // standard base64 of the raw values
	resp, err := ts.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Op: op, Method: http.MethodPost, Path: req.URL.Path, Kind: errs.Transient, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, &Error{Op: op, Method: http.MethodPost, Path: req.URL.Path, HTTPStatus: resp.StatusCode, Kind: errs.Transient, Err: err}
	}
	ans, e := decodeTokenAnswer(resp.StatusCode, resp.Header.Get("x-zm-trackingid"), body)
	if e != nil {
		e.Op, e.Method, e.Path = op, http.MethodPost, req.URL.Path
		return nil, e
	}
	ts.logger.Debug("fetched Zoom access token", slog.Int64("expires_in_s", ans.ExpiresIn), slog.String("scope", ans.Scope))
	if ts.onAPIURL != nil && ans.APIURL != "" {
		ts.onAPIURL(ans.APIURL)
	}
	return &accessToken{value: ans.AccessToken, expiry: start.Add(time.Duration(ans.ExpiresIn) * time.Second), scope: ans.Scope}, nil
}

// SetCredentials replaces the account's OAuth client id and secret (a
// reloaded accounts file). The cached access token is dropped, so the next
// call fetches one with the new credentials: a wrong secret shows at once,
// not when the old token expires.
func (c *Client) SetCredentials(ctx context.Context, creds Credentials) error {
	const op = "zoomapi.SetCredentials"
	if creds.AccountID != c.creds.AccountID {
		return errs.Errorf(op, errs.Invalid, "credentials of account %s given to the client of account %s", creds.AccountID, c.creds.AccountID)
	}
	if creds.ClientID == "" || creds.ClientSecret.IsZero() {
		return errs.Errorf(op, errs.Invalid, "client id and client secret are required")
	}
	select {
	case c.tokens.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.tokens.creds, c.tokens.cur = creds, nil
	<-c.tokens.sem
	return nil
}
