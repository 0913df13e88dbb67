package zoomws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// Tokens hands out access tokens for the connection URL.
type Tokens interface {
	// AccessToken is the account's cached Server-to-Server token.
	AccessToken(ctx context.Context) (zoomapi.SocketToken, error)
	// RefreshAccessToken replaces a refused token with a fresh one.
	RefreshAccessToken(ctx context.Context, stale string) (zoomapi.SocketToken, error)
	// ClientCredentialsToken is the documented fallback
	// (grant_type=client_credentials).
	ClientCredentialsToken(ctx context.Context) (zoomapi.SocketToken, error)
}

// Lease elects the one replica that connects a subscription.
type Lease interface {
	// Hold runs fn while this replica holds the lease and reports
	// (false, nil) at once when another replica does. fn's context ends
	// as soon as the lease is lost; the lease is released when fn returns.
	Hold(ctx context.Context, fn func(ctx context.Context, fence int64) error) (bool, error)
	// Check returns nil only while fence still holds the lease.
	Check(ctx context.Context, fence int64) error
}

// Marks remember, across replicas and restarts, the last moment a
// subscription's events were all known to be stored: where the next
// connection's gap begins.
type Marks interface {
	MarkAlive(ctx context.Context, subscription string, at time.Time) error
	LastAlive(ctx context.Context, subscription string) (time.Time, error) // zero: never
}

// Gap is a stretch of time in which Zoom may have had events for the
// subscription that zoomsync never received: Zoom does not redeliver
// what happened while a socket was closed.
type Gap struct {
	Subscription string
	Account      string
	Start        time.Time // zero: unknown (no connection was ever recorded)
	End          time.Time // when the new connection was established
}

// Observer is told what the connection does (metrics). Every string it
// gets comes from a fixed set or from configuration.
type Observer interface {
	State(subscription string, s State)
	Frame(subscription, module string)
	Event(subscription, event, outcome string)
	Reconnect(subscription, reason string)
}

// State of a subscription on this replica.
type State string

// States.
const (
	StateStandby    State = "standby"    // another replica holds the lease
	StateConnecting State = "connecting" // dialing or waiting for build_connection
	StateConnected  State = "connected"
	StateBackoff    State = "backoff" // waiting before the next attempt
	StateStopped    State = "stopped"
)

// Event outcomes (Observer.Event), the webhook handler's where they mean
// the same.
const (
	OutcomeAccepted       = webhook.OutcomeAccepted
	OutcomeMalformed      = webhook.OutcomeMalformed
	OutcomeUnknownAccount = webhook.OutcomeUnknownAccount
	OutcomeUnavailable    = webhook.OutcomeUnavailable // could not be stored: lost, left to the gap repair
)

// Reconnect reasons (Observer.Reconnect).
const (
	ReasonClosed        = "closed"         // the server closed or the connection broke
	ReasonSilent        = "silent"         // nothing arrived within ReadTimeout
	ReasonTokenExpiring = "token_expiring" // replaced before its token expires
	ReasonInvalidToken  = "invalid_token"  // Zoom refused the token
	ReasonRefused       = "refused"        // another success:false frame
	ReasonDialFailed    = "dial_failed"
	ReasonNoToken       = "no_token" // the token endpoint failed
	ReasonStoreFailed   = "store_failed"
)

// Options configure a Client. Subscription, URL, Account, Tokens and
// Sink are required.
type Options struct {
	Subscription string // the subscriptionId
	// URL is the endpoint URL as the Marketplace shows it
	// (wss://ws.zoom.us/ws?subscriptionId=…), without a token.
	URL     string
	Account string // the account that owns the subscription
	// KnownAccount, if set, admits events naming another configured
	// account (a master account's subscription that includes its
	// subaccounts); otherwise such events are refused.
	KnownAccount func(id string) bool
	Tokens       Tokens
	Sink         webhook.Sink
	Lease        Lease // nil: connect without one (a single process)
	Marks        Marks // nil: gaps are measured within this process only
	Observer     Observer
	// OnGap is called after every connection is established with the gap
	// it may have left. It must return quickly (start the repair, do not
	// run it).
	OnGap func(ctx context.Context, g Gap)

	Heartbeat   time.Duration // 0: 30 s (Zoom's documented interval)
	ReadTimeout time.Duration // nothing read for this long closes the connection; 0: 60 s
	// TokenMargin: the connection is replaced this long before its
	// token expires; 0: 5 minutes.
	TokenMargin time.Duration
	StandbyPoll time.Duration // how often a standby replica tries the lease; 0: 1 s
	DialTimeout time.Duration // 0: 10 s
	// MinBackoff and MaxBackoff bound the jittered exponential wait
	// between attempts; 0: 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// StoreTimeout bounds one attempt to store an event; 0: 2.5 s.
	StoreTimeout  time.Duration
	MaxFrameBytes int64 // larger frames close the connection; 0: 1 MiB
	HTTPClient    *http.Client
	Clock         clockwork.Clock
	Logger        *slog.Logger
}

// Status is what /readyz reports about a subscription on this replica.
type Status struct {
	Subscription string    `json:"subscription_id"`
	Account      string    `json:"account_id"`
	State        State     `json:"state"`
	Since        time.Time `json:"since"`
	Connections  int64     `json:"connections"`
	LastError    string    `json:"last_error,omitempty"`
}

// Client keeps one subscription connected on at most one replica.
type Client struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	status Status
	// lastGood is when every event received so far was stored (the
	// in-process gap start when Marks is nil).
	lastGood time.Time
	// preferFallback: the account token was refused and the
	// client_credentials token worked; keep using that.
	preferFallback bool

	badLog, storeLog *rate.Limiter // bounded log lines
}

// New returns a client; Run connects it.
func New(opts Options) (*Client, error) {
	switch {
	case opts.Subscription == "":
		return nil, errors.New("zoomws: a subscription id is required")
	case opts.URL == "":
		return nil, errors.New("zoomws: an endpoint URL is required")
	case opts.Account == "" || opts.Tokens == nil || opts.Sink == nil:
		return nil, errors.New("zoomws: the account, its tokens and a sink are required")
	}
	if _, err := url.Parse(opts.URL); err != nil {
		return nil, fmt.Errorf("zoomws: endpoint URL: %w", err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Heartbeat, 30*time.Second)
	def(&opts.ReadTimeout, 60*time.Second)
	def(&opts.TokenMargin, 5*time.Minute)
	def(&opts.StandbyPoll, time.Second)
	def(&opts.DialTimeout, 10*time.Second)
	def(&opts.MinBackoff, 500*time.Millisecond)
	def(&opts.MaxBackoff, 30*time.Second)
	def(&opts.StoreTimeout, 2500*time.Millisecond)
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = webhook.MaxBodyBytes + 64<<10 // an event as large as a webhook's, plus the frame around it
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	c := &Client{opts: opts, badLog: newLogLimiter(), storeLog: newLogLimiter(), log: opts.Logger.With(slog.String("subscription_id", opts.Subscription), slog.String("account_id", opts.Account))}
	c.status = Status{Subscription: opts.Subscription, Account: opts.Account, State: StateStopped, Since: opts.Clock.Now()}
	return c, nil
}

// Status reports the subscription's state on this replica.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *Client) setState(s State, errText string) {
	c.mu.Lock()
	changed := c.status.State != s
	if changed {
		c.status.State, c.status.Since = s, c.opts.Clock.Now()
	}
	if s == StateConnected {
		c.status.Connections++
		c.status.LastError = ""
	} else if errText != "" {
		c.status.LastError = errText
	}
	c.mu.Unlock()
	if changed && c.opts.Observer != nil {
		c.opts.Observer.State(c.opts.Subscription, s)
	}
}

// Run keeps the subscription connected while this replica holds its
// lease, and stands by otherwise, until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	defer c.setState(StateStopped, "")
	for ctx.Err() == nil {
		if c.opts.Lease == nil {
			c.connectLoop(ctx, 0)
			continue
		}
		held, err := c.opts.Lease.Hold(ctx, func(lctx context.Context, fence int64) error {
			c.log.Info("websocket subscription: this replica holds the connection lease", slog.Int64("fence", fence))
			c.connectLoop(lctx, fence)
			return nil
		})
		switch {
		case ctx.Err() != nil:
		case err != nil:
			c.log.Warn("websocket subscription: lease lost or unavailable; the connection is closed", slog.String("error", err.Error()))
			c.setState(StateStandby, err.Error())
		case !held:
			c.setState(StateStandby, "")
		}
		select {
		case <-ctx.Done():
		case <-c.opts.Clock.After(c.opts.StandbyPoll):
		}
	}
	return nil
}

// newBackoff is the jittered exponential wait between attempts.
func (c *Client) newBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = c.opts.MinBackoff, c.opts.MaxBackoff
	b.RandomizationFactor, b.Multiplier = 0.5, 2
	b.Reset()
	return b
}

// connectLoop connects, and reconnects after every close, until ctx
// ends (shutdown or the lease lost).
func (c *Client) connectLoop(ctx context.Context, fence int64) {
	bo := c.newBackoff()
	refusals := 0 // invalid-token answers in a row
	renewing := false
	for ctx.Err() == nil {
		if c.opts.Lease != nil {
			// Connecting is what only the holder may do: a replica that
			// stalled past its lease must not knock the new holder off.
			if err := c.opts.Lease.Check(ctx, fence); err != nil {
				c.log.Warn("websocket subscription: lease no longer held; not connecting", slog.String("error", err.Error()))
				return
			}
		}
		step := refusals
		if renewing && step == 0 {
			step = 1 // replacing a connection whose token nears expiry: a new token
		}
		tok, how, err := c.token(ctx, step)
		var out sessionEnd
		if err != nil {
			out = sessionEnd{reason: ReasonNoToken, err: err}
		} else {
			out = c.session(ctx, tok)
		}
		if ctx.Err() != nil {
			return
		}
		if out.connected {
			bo.Reset()
		}
		renewing = out.reason == ReasonTokenExpiring
		switch {
		case out.reason == ReasonInvalidToken && how == tokenFallback && refusals == 0:
			// The client_credentials token that used to work was refused:
			// start over with the account token.
			c.preferFallbackSet(false)
		case out.reason == ReasonInvalidToken:
			refusals++ // next: a fresh account token, then the fallback
		case out.connected:
			c.preferFallbackSet(how == tokenFallback)
			refusals = 0
		}
		if c.opts.Observer != nil {
			c.opts.Observer.Reconnect(c.opts.Subscription, out.reason)
		}
		wait := bo.NextBackOff()
		switch {
		case out.reason == ReasonTokenExpiring:
			wait = 0 // replaced on purpose: at once, with a new token
		case out.reason == ReasonInvalidToken && refusals < 3:
			wait = 0 // one forced refresh, then the fallback token, at once
		case out.reason == ReasonInvalidToken:
			refusals = 0 // every token was refused: alert, wait, start over
			c.log.Error("websocket subscription: Zoom refused every access token (the account token, a fresh one and the client_credentials one); check the app's event subscription and that it is activated")
		}
		lvl := slog.LevelWarn
		if out.reason == ReasonTokenExpiring {
			lvl = slog.LevelInfo
		}
		attrs := []slog.Attr{slog.String("reason", out.reason), slog.Duration("retry_in", wait)}
		if out.err != nil {
			attrs = append(attrs, slog.String("error", out.err.Error()))
		}
		c.log.LogAttrs(ctx, lvl, "websocket subscription: connection ended; reconnecting", attrs...)
		c.setState(StateBackoff, errText(out.err, out.reason))
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-c.opts.Clock.After(wait):
			}
		}
	}
}

func errText(err error, reason string) string {
	if err != nil {
		return reason + ": " + err.Error()
	}
	return reason
}

func (c *Client) preferFallbackSet(v bool) {
	c.mu.Lock()
	c.preferFallback = v
	c.mu.Unlock()
}

// Which token an attempt used.
const (
	tokenCached = iota
	tokenForced
	tokenFallback
)

// token picks the attempt's token: the cached account token, after one
// refusal a fresh one, after two the client_credentials token (the
// documented form), which is kept once it worked.
func (c *Client) token(ctx context.Context, refusals int) (zoomapi.SocketToken, int, error) {
	c.mu.Lock()
	fallback := c.preferFallback
	c.mu.Unlock()
	if fallback && refusals == 0 {
		t, err := c.opts.Tokens.ClientCredentialsToken(ctx)
		return t, tokenFallback, err
	}
	switch refusals {
	case 0:
		t, err := c.opts.Tokens.AccessToken(ctx)
		return t, tokenCached, err
	case 1:
		cur, err := c.opts.Tokens.AccessToken(ctx)
		if err != nil {
			return cur, tokenForced, err
		}
		t, err := c.opts.Tokens.RefreshAccessToken(ctx, cur.Value)
		return t, tokenForced, err
	default:
		t, err := c.opts.Tokens.ClientCredentialsToken(ctx)
		return t, tokenFallback, err
	}
}

// connectURL adds the token to the endpoint URL's query string (where
// Zoom takes it; an Authorization header gets "token is empty").
func (c *Client) connectURL(token string) (string, error) {
	u, err := url.Parse(c.opts.URL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("access_token", token)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redact removes the token from an error's text (net/http quotes the URL).
func redact(err error, token string) error {
	if err == nil || token == "" {
		return err
	}
	s := err.Error()
	for _, t := range []string{token, url.QueryEscape(token)} {
		s = strings.ReplaceAll(s, t, "REDACTED")
	}
	return errors.New(s)
}
