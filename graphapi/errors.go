package graphapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Error is a failed Graph or token call.
type Error struct {
	Kind      errs.Kind
	Op        string // e.g. "graphapi.SetPresence"
	Status    int    // HTTP status; 0 for transport errors
	Code      string // Graph's error.code, or the token endpoint's error
	Message   string
	RequestID string    // Graph's request-id: quote it to Microsoft support
	RetryAt   time.Time // RateLimited: the earliest useful retry, if known
	Err       error     // transport error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if !e.RetryAt.IsZero() {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAt.UTC().Format(time.RFC3339))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request-id %s]", e.RequestID)
	}
	fmt.Fprintf(&b, " (%s)", e.Kind)
	return b.String()
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrorKind implements errs.Kinded.
func (e *Error) ErrorKind() errs.Kind { return e.Kind }

// ErrorRetryAt reports when a throttled call may be sent again.
func (e *Error) ErrorRetryAt() time.Time { return e.RetryAt }

// graphError is Graph's error body.
type graphError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// kindOf maps a Graph HTTP status to what the caller should do.
func kindOf(status int) errs.Kind {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return errs.Auth
	case status == http.StatusNotFound:
		return errs.NotFound
	case status == http.StatusTooManyRequests:
		return errs.RateLimited
	case status >= 500, status == http.StatusRequestTimeout:
		return errs.Transient
	case status == http.StatusFailedDependency:
		return errs.Transient // its dependency failed: send it again
	}
	return errs.Invalid
}

// decodeError builds the Error of a non-2xx Graph answer.
func decodeError(op string, status int, header http.Header, body []byte, now time.Time) *Error {
	e := &Error{Op: op, Status: status, Kind: kindOf(status), RequestID: header.Get("request-id")}
	var ge graphError
	if json.Unmarshal(body, &ge) == nil {
		e.Code, e.Message = printable(ge.Error.Code), printable(ge.Error.Message)
		if e.RequestID == "" {
			e.RequestID = printable(ge.Error.InnerError.RequestID)
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.RetryAt = retryAfter(header.Get("Retry-After"), now)
	}
	return e
}

// retryAfter reads Retry-After (seconds, or an HTTP date); zero when
// absent or nonsense. It is capped at an hour.
func retryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return now.Add(time.Duration(min(s, 3600)) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		if t.Sub(now) > time.Hour {
			return now.Add(time.Hour)
		}
		return t
	}
	return time.Time{}
}

// printable bounds text from the far end and drops control characters.
func printable(s string) string {
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
