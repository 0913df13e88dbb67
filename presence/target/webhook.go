package target

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// Webhook headers (SPEC §5).
const (
	HeaderTimestamp = "X-Zoomsync-Timestamp"
	HeaderSignature = "X-Zoomsync-Signature"
)

// TypeWebhook POSTs signed JSON (SPEC §5).
const TypeWebhook = "webhook"

func init() {
	Register(Type{Name: TypeWebhook, Decode: decodeWebhook, New: newWebhook,
		// The body carries the directory entry; every failure is retried
		// until dead_after (SPEC §5: "anything else is retried").
		Traits: Traits{ReceivesDirectory: true, RetryEveryFailure: true}})
}

// webhookSettings are a webhook target's own fields.
type webhookSettings struct {
	URL    string        `json:"url"`
	Secret secret.Secret `json:"secret"`
}

// Endpoint is the URL, redacted.
func (s *webhookSettings) Endpoint() string { return RedactURL(s.URL) }

func decodeWebhook(raw json.RawMessage) (Settings, error) {
	var s webhookSettings
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http(s)://host/path", RedactURL(s.URL))
	}
	if s.Secret.IsZero() {
		return nil, errors.New("secret is required (pushes are signed with it)")
	}
	return &s, nil
}

// webhook is the driver of one webhook target.
type webhook struct {
	name   string
	url    string
	secret secret.Secret
	client *http.Client
	now    func() time.Time
}

// idleConnsPerTarget is how many connections to a webhook target are kept
// alive between pushes.
const idleConnsPerTarget = 128

// newWebhook builds the driver. Redirects are never followed, whatever
// client is given: a 3xx would make the client POST the signed body again
// to wherever the answer points.
func newWebhook(c Config, deps Deps) (Driver, error) {
	s, ok := c.Settings.(*webhookSettings)
	if !ok {
		return nil, fmt.Errorf("target %q: not a checked webhook configuration", c.Name)
	}
	client := deps.HTTP
	if client == nil {
		// Every partition's sender pushes to the target at once, several
		// pushes each (the sender's inFlight): keep that many connections
		// alive. net/http's default of 2 idle per host made most pushes
		// dial a new connection (14 % of serve's CPU in BenchmarkPipeline).
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = idleConnsPerTarget
		t.MaxIdleConnsPerHost = idleConnsPerTarget
		client = &http.Client{Timeout: c.Timeout.Duration, Transport: t}
	}
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &webhook{name: c.Name, url: s.URL, secret: s.Secret, client: &noRedirects, now: deps.Clock.Now}, nil
}

// WebhookBody is the JSON a webhook target receives.
type WebhookBody struct {
	Event          string     `json:"event"`
	Target         string     `json:"target"`
	AccountID      string     `json:"account_id"`
	ZoomUserID     string     `json:"zoom_user_id"`
	Email          string     `json:"email"`
	Directory      *Directory `json:"directory"`
	Status         string     `json:"status"`
	PreviousStatus string     `json:"previous_status"`
	TargetStatus   string     `json:"target_status"`
	Since          time.Time  `json:"since"`
	Seq            int64      `json:"seq"`
}

// Sign is the signature of body at ts: "v1=" + hex HMAC-SHA256 over
// "{ts}.{body}".
func Sign(key string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	var prefix [24]byte
	mac.Write(append(strconv.AppendInt(prefix[:0], ts, 10), '.'))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is Verify's answer to a push that is not genuine or too old.
var ErrBadSignature = errors.New("target: bad or stale signature")

// Verify is what a receiver does with a push: the signature must be Sign
// of the raw body at the X-Zoomsync-Timestamp, compared in constant time,
// and the timestamp within tolerance of now.
func Verify(key string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(key, ts, body))) {
		return ErrBadSignature
	}
	return nil
}

func (w *webhook) Push(ctx context.Context, p Push) error {
	const op = "target.webhook.Push"
	body, err := json.Marshal(WebhookBody{Event: "presence.changed", Target: w.name, AccountID: p.AccountID, ZoomUserID: p.ZoomUserID,
		Email: p.Email, Directory: p.Directory, Status: string(p.Status), PreviousStatus: string(p.Previous),
		TargetStatus: p.TargetStatus, Since: p.Since.UTC(), Seq: p.Seq})
	if err != nil {
		return errs.E(op, errs.Permanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return errs.E(op, errs.Permanent, redactErr(http.MethodPost, w.url, err))
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "zoomsync")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(w.secret.Reveal(), ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return errs.E(op, errs.Transient, redactErr(http.MethodPost, w.url, err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	where := "POST " + RedactURL(w.url) // only failures say where
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e := errs.E(op, errs.RateLimited, fmt.Errorf("%s: 429", where))
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAt = w.now().Add(time.Duration(s) * time.Second)
		}
		return e
	case resp.StatusCode/100 == 3:
		// Not followed: the push is not delivered. Permanent: asking the
		// same URL again gets the same answer until the receiver or the
		// target's url changes. Like every webhook failure it is retried
		// until dead_after (Traits.RetryEveryFailure, SPEC §5), so fixing
		// either in time loses nothing.
		return errs.E(op, errs.Permanent, fmt.Errorf("%s: %s: redirect to %s not followed (a redirect would re-send the signed push elsewhere); set the target's url to the final address",
			where, resp.Status, locationOf(resp)))
	default:
		// SPEC §5: anything but 2xx is retried (until dead_after).
		return errs.E(op, errs.Transient, fmt.Errorf("%s: %s", where, resp.Status))
	}
}

// locationOf is a redirect's Location, redacted like a target URL and
// bounded (it comes from the receiver).
func locationOf(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "(no Location)"
	}
	if len(loc) > 2048 {
		return "[overlong Location]"
	}
	return RedactURL(loc)
}
