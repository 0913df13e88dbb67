package webhook

import (
	"errors"
	"io"
	"net/http"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// MaxBodyBytes is the largest webhook body accepted (1 MiB). Zoom's events
// are a few KiB; anything larger is a mistake or an attack.
const MaxBodyBytes = 1 << 20

// ErrBodyTooLarge is returned for bodies over MaxBodyBytes (answer 413).
var ErrBodyTooLarge = errs.E("webhook.ReadBody", errs.Invalid, errors.New("body larger than 1 MiB"))

// ReadBody reads the whole request body, refusing more than MaxBodyBytes.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, errs.E("webhook.ReadBody", errs.Transient, err)
	}
	if len(b) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}
