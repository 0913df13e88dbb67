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
	// Read into a buffer of the announced length (and one byte more, to
	// see the end): one allocation, not io.ReadAll's doublings from 512.
	// The length is only a hint: the limit holds whatever arrives.
	size := 512
	if r.ContentLength >= 0 {
		size = int(r.ContentLength) + 1
	}
	b, err := readAll(io.LimitReader(r.Body, MaxBodyBytes+1), size)
	if err != nil {
		return nil, errs.E("webhook.ReadBody", errs.Transient, err)
	}
	if len(b) > MaxBodyBytes {
		return nil, ErrBodyTooLarge
	}
	return b, nil
}

// readAll is io.ReadAll starting with a buffer of size bytes.
func readAll(r io.Reader, size int) ([]byte, error) {
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
	}
}
