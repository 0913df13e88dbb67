package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// Header names Zoom sets on every webhook delivery.
const (
	HeaderSignature  = "X-Zm-Signature"
	HeaderTimestamp  = "X-Zm-Request-Timestamp"
	HeaderRequestID  = "X-Zm-Request-Id"
	HeaderTrackingID = "X-Zm-Trackingid"
)

// DefaultTolerance is how far a request timestamp may be from now.
const DefaultTolerance = 5 * time.Minute

// Verification failures. All are of kind errs.Auth and answer 401.
var (
	ErrMissingSignature = errs.E("webhook.Verify", errs.Auth, errors.New("missing x-zm-signature header"))
	ErrMissingTimestamp = errs.E("webhook.Verify", errs.Auth, errors.New("missing or malformed x-zm-request-timestamp header"))
	ErrStaleTimestamp   = errs.E("webhook.Verify", errs.Auth, errors.New("request timestamp outside the allowed window"))
	ErrBadSignature     = errs.E("webhook.Verify", errs.Auth, errors.New("signature does not match"))
	// ErrNoSecret: the account has no secret token, and an HMAC keyed with
	// nothing is one anybody can compute.
	ErrNoSecret = errs.E("webhook.Verify", errs.Auth, errors.New("no webhook secret token is configured for this account"))
)

// Verifier checks Zoom's x-zm-signature for one account.
type Verifier struct {
	Secret    secret.Secret
	Clock     clockwork.Clock // nil: real time
	Tolerance time.Duration   // 0: DefaultTolerance
}

// Verify checks the signature and timestamp headers against body, which
// must be the raw request body.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	if v.Secret.IsZero() {
		return ErrNoSecret
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return ErrMissingSignature
	}
	tsHeader := h.Get(HeaderTimestamp)
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil || ts <= 0 {
		return ErrMissingTimestamp
	}
	clock := v.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if d := clock.Now().Sub(time.Unix(ts, 0)); d > tol || d < -tol {
		return ErrStaleTimestamp
	}
	if !hmac.Equal([]byte(sig), []byte(signHeader(v.Secret.Reveal(), tsHeader, body))) {
		return ErrBadSignature
	}
	return nil
}

// Sign returns the x-zm-signature value Zoom sends for body at timestamp
// (Unix seconds) with the given secret token.
func Sign(secretToken string, timestamp int64, body []byte) string {
	return signHeader(secretToken, strconv.FormatInt(timestamp, 10), body)
}

func signHeader(secretToken, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretToken))
	mac.Write([]byte("v0:"))
	mac.Write([]byte(timestamp))
	mac.Write([]byte(":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SignRequest sets the signature and timestamp headers on h, as Zoom does.
func SignRequest(h http.Header, secretToken string, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(secretToken, ts, body))
}
