package helpdesk

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits bound what one client can hold of the HTTP server
// (docs/OPERATIONS.md, "Limits"): the server's own (set on the
// http.Server that serves the API) and the live stream's.
type Limits struct {
	// ReadHeaderTimeout: a client must send its request line and headers
	// within this (slow-header clients hold nothing longer).
	ReadHeaderTimeout time.Duration
	// ReadTimeout: the whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout: the whole answer of every endpoint but the live stream,
	// which sets a deadline per write instead (StreamWriteTimeout).
	WriteTimeout time.Duration
	// IdleTimeout: a kept-alive connection waiting for its next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers together.
	MaxHeaderBytes int
	// StreamWriteTimeout: one event or keep-alive of the live stream must
	// reach the client within this, or the stream ends (a viewer that
	// stopped reading does not hold its slot).
	StreamWriteTimeout time.Duration
	// StreamKeepAlive: how often an idle stream sends a comment line.
	StreamKeepAlive time.Duration
}

// DefaultLimits are the limits serve runs with.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout:  10 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        120 * time.Second,
		MaxHeaderBytes:     64 << 10,
		StreamWriteTimeout: 30 * time.Second,
		StreamKeepAlive:    15 * time.Second,
	}
}

// MaxKeyBytes bounds a lookup key (GET /v1/presence/{key}, its history,
// /v1/users/{key}, each key of a bulk lookup) and a /v1/people search: an
// email address is at most 254 bytes (RFC 5321), and Zoom ids,
// extensions, uids and employee numbers are shorter.
const MaxKeyBytes = 256

// keyTooLong answers 400 when key is over MaxKeyBytes.
func keyTooLong(w http.ResponseWriter, key string) bool {
	if len(key) <= MaxKeyBytes {
		return false
	}
	apiError(w, http.StatusBadRequest, "key_too_long", "a key is at most "+strconv.Itoa(MaxKeyBytes)+" bytes (an email address is at most 254)")
	return true
}

// streamSlots caps the open live streams of this process, in all and per
// API token (ZOOMSYNC_STREAM_MAX_CONNECTIONS, ZOOMSYNC_STREAM_MAX_PER_TOKEN).
type streamSlots struct {
	max, perToken int
	// onChange, if set, is told the open count and any refusal ("process"
	// or "token") under the lock's protection (metrics).
	onChange func(open int, refused string)

	mu      sync.Mutex
	open    int
	byToken map[int]int
}

func newStreamSlots(max, perToken int, onChange func(open int, refused string)) *streamSlots {
	return &streamSlots{max: max, perToken: perToken, onChange: onChange, byToken: map[int]int{}}
}

// acquire takes a slot for token; release gives it back (once). A nil
// release means the cap is reached: refused says which one.
func (s *streamSlots) acquire(token int) (release func(), refused string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.open >= s.max:
		refused = "process"
	case s.byToken[token] >= s.perToken:
		refused = "token"
	}
	if refused != "" {
		s.notify(refused)
		return nil, refused
	}
	s.open++
	s.byToken[token]++
	s.notify("")
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.open--
			if s.byToken[token]--; s.byToken[token] == 0 {
				delete(s.byToken, token)
			}
			s.notify("")
		})
	}, ""
}

func (s *streamSlots) notify(refused string) {
	if s.onChange != nil {
		s.onChange(s.open, refused)
	}
}
