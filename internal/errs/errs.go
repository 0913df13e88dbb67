package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller should do about it.
type Kind uint8

// Kinds. Values are stable; append new ones at the end.
const (
	Other       Kind = iota // unclassified: treat as Permanent
	NotFound                // the thing does not exist (Zoom code 1001, HTTP 404)
	Stale                   // a write lost against a newer version; not a failure
	RateLimited             // slow down; see RetryAt
	Auth                    // credentials rejected or insufficient scopes
	Transient               // network, 5xx, timeouts: retry with backoff
	Permanent               // will never succeed as asked (most 4xx)
	Invalid                 // bad input or configuration
	Unavailable             // a dependency (Redis, LDAP) cannot be reached
	Exists                  // the thing to create is there already (a Redis consumer group)
)

var kindNames = [...]string{
	Other:       "other",
	NotFound:    "not_found",
	Stale:       "stale",
	RateLimited: "rate_limited",
	Auth:        "auth",
	Transient:   "transient",
	Permanent:   "permanent",
	Invalid:     "invalid",
	Unavailable: "unavailable",
	Exists:      "exists",
}

// String returns the snake_case name used in logs and metric labels.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is a classified error with the operation that failed.
type Error struct {
	Op      string    // what was being done, e.g. "zoomapi.ListUsers"
	Kind    Kind      // what the caller should do about it
	RetryAt time.Time // RateLimited only: earliest useful retry, zero if unknown
	Err     error     // underlying cause, may be nil
}

// E builds an *Error. err may be nil.
func E(op string, kind Kind, err error) *Error {
	return &Error{Op: op, Kind: kind, Err: err}
}

// Errorf builds an *Error whose cause is fmt.Errorf(format, args...).
func Errorf(op string, kind Kind, format string, args ...any) *Error {
	return &Error{Op: op, Kind: kind, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string {
	msg := e.Op
	if msg != "" {
		msg += ": "
	}
	msg += e.Kind.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorKind reports the kind; it lets other error types (zoomapi.Error,
// directory errors) take part in KindOf without wrapping in *Error.
func (e *Error) ErrorKind() Kind { return e.Kind }

// Kinded is implemented by any error that knows its Kind.
type Kinded interface {
	error
	ErrorKind() Kind
}

// KindOf returns the kind of the first Kinded error in err's chain, Other
// when none is found, and Other for nil.
func KindOf(err error) Kind {
	var k Kinded
	if errors.As(err, &k) {
		return k.ErrorKind()
	}
	return Other
}

// Is reports whether err's kind is kind.
func Is(kind Kind, err error) bool { return err != nil && KindOf(err) == kind }

// Retryable reports whether trying again later may succeed.
func Retryable(err error) bool {
	switch KindOf(err) {
	case Transient, RateLimited, Unavailable:
		return true
	}
	return false
}

// RetryAt returns the earliest useful retry time carried by err's chain, or
// the zero time.
func RetryAt(err error) time.Time {
	type retryAter interface{ ErrorRetryAt() time.Time }
	var r retryAter
	if errors.As(err, &r) {
		return r.ErrorRetryAt()
	}
	return time.Time{}
}

// ErrorRetryAt reports RetryAt.
func (e *Error) ErrorRetryAt() time.Time { return e.RetryAt }
