package zoomapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Zoom error codes the client acts on (zoom-api.md §7).
const (
	CodeInvalidToken     = 124  // invalid or expired access token
	CodeBadPageToken     = 300  // validation failed, incl. next_page_token invalid or expired
	CodeUserNotFound     = 1001 // user does not exist
	CodeTokenLacksScopes = 4711 // token does not contain the scopes the endpoint needs
)

// Error is a failed Zoom API call.
type Error struct {
	Kind       errs.Kind
	Op         string // e.g. "zoomapi.Users.List"
	Method     string
	Path       string // request path, never with credentials
	HTTPStatus int    // 0 for transport errors
	Code       int    // Zoom's numeric code, 0 when the body had none
	Message    string
	TrackingID string // x-zm-trackingid: quote it to Zoom support

	RateLimitType string    // X-RateLimit-Type of a 429: QPS or Daily-limit
	RetryAt       time.Time // RateLimited: when the limit resets, if known

	Err error // transport error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s", e.Op, e.Method, e.Path)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RateLimitType != "" {
		fmt.Fprintf(&b, " (%s", e.RateLimitType)
		if !e.RetryAt.IsZero() {
			fmt.Fprintf(&b, ", resets %s", e.RetryAt.UTC().Format(time.RFC3339))
		}
		b.WriteString(")")
	}
	if e.TrackingID != "" {
		fmt.Fprintf(&b, " [tracking id %s]", e.TrackingID)
	}
	fmt.Fprintf(&b, " (%s)", e.Kind)
	return b.String()
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrorKind implements errs.Kinded.
func (e *Error) ErrorKind() errs.Kind { return e.Kind }

// ErrorRetryAt reports when a rate limit resets.
func (e *Error) ErrorRetryAt() time.Time { return e.RetryAt }

// errorBody is Zoom's API error shape; token-endpoint errors use reason/error.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Error   string `json:"error"`
}

// responseError builds the *Error for a non-2xx answer; body is at most
// maxErrorBody bytes of it.
func responseError(op, method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{
		Op:         op,
		Method:     method,
		Path:       path,
		HTTPStatus: resp.StatusCode,
		TrackingID: printable(resp.Header.Get("x-zm-trackingid")),
	}
	var zoomBody bool
	e.Code, e.Message, zoomBody = decodeErrorBody(resp.StatusCode, body)
	e.Kind = classify(resp.StatusCode, e.Code)
	if resp.StatusCode == http.StatusNotFound && !zoomBody {
		// Zoom answers every 404 with its {"code","message"} body. One
		// without it came from something else on the way (a proxy, a wrong
		// base URL, an outage page): it says nothing about the resource.
		e.Kind = errs.Transient
		e.Message = "HTTP 404 without Zoom's error body (not Zoom's answer: a proxy, a wrong base URL or an outage page?)"
	}
	return e
}

// decodeErrorBody reads Zoom's {"code","message"} (or the token
// endpoint's {"reason","error"}) error body; zoomBody reports whether it
// was one, with a non-zero numeric code. The message is made printable.
func decodeErrorBody(status int, body []byte) (code int, msg string, zoomBody bool) {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		code, msg = eb.Code, eb.Message
		if msg == "" {
			msg = eb.Reason
		}
		zoomBody = eb.Code != 0
	}
	if msg == "" {
		// A proxy or load balancer's HTML page: keep a short, printable hint.
		msg = strings.TrimSpace(http.StatusText(status))
	}
	return code, printable(msg), zoomBody
}

// IsUserNotFound reports whether err is Zoom's own "user does not exist"
// answer: HTTP 404 with Zoom's error body carrying code 1001. Only that
// proves a user is gone; any other 404 (no body, another code) does not.
func IsUserNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.HTTPStatus == http.StatusNotFound && e.Code == CodeUserNotFound
}

func classify(status, code int) errs.Kind {
	switch {
	case status == http.StatusTooManyRequests || code == 429:
		return errs.RateLimited
	case status >= 500:
		return errs.Transient
	case status == http.StatusNotFound || code == CodeUserNotFound:
		return errs.NotFound
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		code == CodeInvalidToken || code == 4700 || code == CodeTokenLacksScopes:
		return errs.Auth
	}
	return errs.Permanent
}

// isTokenRejected reports whether an answer means "this access token is
// no good" (refetch once), as opposed to "not allowed".
func isTokenRejected(e *Error) bool {
	return e.HTTPStatus == http.StatusUnauthorized || e.Code == CodeInvalidToken
}
