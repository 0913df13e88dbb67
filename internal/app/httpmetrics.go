package app

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// instrument observes every request h serves: webhooks in
// zoomsync_webhook_ack_duration_seconds (by status code), everything else
// in zoomsync_http_request_duration_seconds (by method, route pattern and
// status code). It wraps the whole mux, whoever registered the routes:
// the mux records the pattern it matched on the request
// (http.Request.Pattern), so the route label is a registered pattern, or
// "unmatched", never a path a client chose.
//
// A request is timed until its handler returns, except one whose answer
// is a stream (Server-Sent Events, or a connection taken over, as by a
// WebSocket): that one until its answer starts, and observed then.
func (m *metrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, start: time.Now()}
		// A stream is observed when its answer starts, so it counts while
		// it is open; r.Pattern is set by then (the mux routed it).
		rec.streaming = func() { m.observe(r, rec.status(), rec.answered) }
		h.ServeHTTP(rec, r)
		if !rec.streamed {
			m.observe(r, rec.status(), time.Since(rec.start))
		}
	})
}

func (m *metrics) observe(r *http.Request, status int, took time.Duration) {
	method, route := routeLabels(r)
	code := statusLabel(status)
	key := httpSeries{method, route, code}
	if o, ok := m.httpSeries.Load(key); ok {
		o.(prometheus.Observer).Observe(took.Seconds())
		return
	}
	var o prometheus.Observer
	if strings.HasPrefix(route, "/webhooks/") {
		o = m.webhookAck.WithLabelValues(code)
	} else {
		o = m.httpRequests.WithLabelValues(method, route, code)
	}
	m.httpSeries.Store(key, o)
	o.Observe(took.Seconds())
}

// httpSeries are one request histogram series' labels. Their values come
// from fixed sets (methods, registered patterns, status codes 100–599), so
// metrics.httpSeries, which keeps each series' observer to spare every
// request the label hashing, is bounded as the series are.
type httpSeries struct{ method, route, code string }

// routeLabels are a request's method (one of the standard ones, else
// "other") and the pattern the mux matched without its method ("unmatched"
// when none did).
func routeLabels(r *http.Request) (method, route string) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		method = r.Method
	default:
		method = "other"
	}
	route = r.Pattern
	if _, path, ok := strings.Cut(route, " "); ok {
		route = path
	}
	if route == "" {
		route = "unmatched"
	}
	return method, route
}

// statusRecorder remembers the status code and when the answer started.
type statusRecorder struct {
	http.ResponseWriter
	start    time.Time
	code     int
	answered time.Duration // since start, at the first WriteHeader or Write
	streamed bool          // an event stream, or a connection taken over
	// streaming is called once when the answer turns out to be a stream.
	streaming func()
}

func (s *statusRecorder) began(code int) {
	if s.code != 0 {
		return
	}
	s.code, s.answered = code, time.Since(s.start)
	if strings.HasPrefix(s.Header().Get("Content-Type"), "text/event-stream") {
		s.stream()
	}
}

func (s *statusRecorder) stream() {
	s.streamed = true
	if s.streaming != nil {
		s.streaming()
	}
}

func (s *statusRecorder) WriteHeader(code int) {
	s.began(code)
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.began(http.StatusOK)
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK // a handler that wrote nothing answers 200
	}
	return s.code
}

// Flush lets streaming answers through.
func (s *statusRecorder) Flush() {
	s.began(http.StatusOK)
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Hijack hands the connection over (a WebSocket upgrade): the request is
// answered at that moment, with 101.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.code == 0 {
		s.code, s.answered = http.StatusSwitchingProtocols, time.Since(s.start)
		s.stream()
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
