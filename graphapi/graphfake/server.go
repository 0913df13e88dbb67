package graphfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Options configure a Server.
type Options struct {
	Clock clockwork.Clock // nil: real time
	// TokenTTL is how long a token lives (0: one hour).
	TokenTTL time.Duration
	// PresenceLimit requests per PresenceWindow per app per tenant (0:
	// 1,500 in 30 s, Graph's documented presence limit; negative:
	// unlimited).
	PresenceLimit  int
	PresenceWindow time.Duration
	// UserLimit units per 10 s per app per tenant for user reads (0:
	// 8,000; negative: unlimited).
	UserLimit int
	// Seed orders $batch answers (0: a fixed seed).
	Seed uint64
	// OnPresence, if set, is told of every accepted presence action
	// (outside the server's lock; calls may be concurrent).
	OnPresence func(PresenceEvent)
	// Wrap, if set, wraps the handler Start serves (a contract check:
	// package graphcontract).
	Wrap func(http.Handler) http.Handler
}

// PresenceEvent is one accepted presence action.
type PresenceEvent struct {
	Tenant, User, ClientID string
	Action                 string // setPresence, clearPresence, setUserPreferredPresence, clearUserPreferredPresence, setStatusMessage
	Availability, Activity string
	Expiration             time.Duration
	At                     time.Time
}

// Faults are answers the fake makes up: an outage.
type Faults struct {
	GraphDown bool // every Graph call (and $batch) answers 503
	LoginDown bool // the token endpoint answers 503
}

// Stats count what the server saw.
type Stats struct {
	TokenGrants     int
	TokenFailures   int
	GraphRequests   int // top-level requests under /v1.0 ($batch counts once)
	BatchRequests   int // requests inside $batch bodies
	PresenceCalls   int // presence calls accepted by the limiter (batched or not)
	UserCalls       int
	Throttled       int // 429 answers
	Unauthorized    int // 401 answers
	Forbidden       int // 403 answers
	Unavailable     int // 503 answers (faults)
	MaxPresenceLoad int // the most presence calls of one app and tenant seen in any window
}

// Server is a fake Microsoft Graph and token endpoint; it implements
// http.Handler.
type Server struct {
	opts  Options
	clock clockwork.Clock

	mu       sync.Mutex
	tenants  map[string]*Tenant
	tokens   map[string]*issuedToken
	faults   Faults
	stats    Stats
	rng      *mathrand.Rand
	throttle map[throttleKey]*window

	srv *http.Server
	url string
}

// New returns a Server without a listener (use it as an http.Handler).
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.PresenceLimit == 0 {
		opts.PresenceLimit = 1500
	}
	if opts.PresenceWindow <= 0 {
		opts.PresenceWindow = 30 * time.Second
	}
	if opts.UserLimit == 0 {
		opts.UserLimit = 8000
	}
	seed := opts.Seed
	if seed == 0 {
		seed = 0x6772617068 // "graph"
	}
	return &Server{opts: opts, clock: opts.Clock, tenants: map[string]*Tenant{}, tokens: map[string]*issuedToken{},
		rng: mathrand.New(mathrand.NewPCG(seed, seed>>1|1)), throttle: map[throttleKey]*window{}}
}

// Start returns a Server listening on a loopback port.
func Start(opts Options) (*Server, error) {
	s := New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var h http.Handler = s
	if opts.Wrap != nil {
		h = opts.Wrap(s)
	}
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the listener.
func (s *Server) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// LoginURL is the base of the token endpoint (as https://login.microsoftonline.com).
func (s *Server) LoginURL() string { return s.url }

// GraphURL is the base of Graph calls (as https://graph.microsoft.com/v1.0).
func (s *Server) GraphURL() string { return s.url + "/v1.0" }

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// ServeHTTP routes a request: the token endpoint, $batch or one Graph call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newID()
	w.Header().Set("request-id", reqID)
	if c := r.Header.Get("client-request-id"); c != "" && len(c) <= 64 {
		w.Header().Set("client-request-id", c)
	}
	path := r.URL.Path
	if tenant, ok := tokenPath(path); ok {
		s.token(w, r, tenant)
		return
	}
	if !strings.HasPrefix(path, "/v1.0/") {
		writeGraphError(w, reqID, s.clock.Now(), http.StatusNotFound, "Request_ResourceNotFound", "no such resource")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		writeGraphError(w, reqID, s.clock.Now(), http.StatusBadRequest, "BadRequest", "unreadable body")
		return
	}
	s.mu.Lock()
	s.stats.GraphRequests++
	down := s.faults.GraphDown
	if down {
		s.stats.Unavailable++
	}
	s.mu.Unlock()
	if down {
		writeGraphError(w, reqID, s.clock.Now(), http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable.")
		return
	}
	tok, ans := s.authenticate(r.Header.Get("Authorization"))
	if ans != nil {
		ans.write(w, reqID, s.clock.Now())
		return
	}
	rel := strings.TrimPrefix(path, "/v1.0")
	if rel == "/$batch" && r.Method == http.MethodPost {
		s.batch(w, reqID, tok, body)
		return
	}
	a, events := s.call(tok, r.Method, rel, r.URL.Query(), r.Header.Get("Content-Type"), body)
	a.write(w, reqID, s.clock.Now())
	s.tell(events)
}

// tell reports accepted presence actions, outside the lock.
func (s *Server) tell(events []PresenceEvent) {
	if s.opts.OnPresence == nil {
		return
	}
	for _, e := range events {
		s.opts.OnPresence(e)
	}
}

// answer is one Graph answer: a status, headers and a JSON body (nil:
// none).
type answer struct {
	status int
	header map[string]string
	body   any
}

func ok(body any) *answer { return &answer{status: http.StatusOK, body: body} }

func graphErr(status int, code, message string) *answer {
	return &answer{status: status, body: errorBody{Error: errorDetail{Code: code, Message: message}}}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	InnerError innerError `json:"innerError"`
}

type innerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// stamp fills the error body's innerError.
func (a *answer) stamp(reqID string, now time.Time) any {
	if eb, ok := a.body.(errorBody); ok {
		eb.Error.InnerError = innerError{Date: now.UTC().Format("2006-01-02T15:04:05"), RequestID: reqID, ClientRequestID: reqID}
		return eb
	}
	return a.body
}

func (a *answer) write(w http.ResponseWriter, reqID string, now time.Time) {
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.body == nil {
		w.WriteHeader(a.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_ = json.NewEncoder(w).Encode(a.stamp(reqID, now))
}

func writeGraphError(w http.ResponseWriter, reqID string, now time.Time, status int, code, message string) {
	graphErr(status, code, message).write(w, reqID, now)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
