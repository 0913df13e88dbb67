package zoomfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Family and label of an endpoint's rate limit.
const (
	FamilyUsers = iota
	FamilyPhone
	FamilyCC
)

// Labels.
const (
	Light = iota
	Medium
	Heavy
)

var labelTitles = [...]string{"Light", "Medium", "Heavy"}

// Limits are per-second limits per [family][label]; 0 means unlimited.
type Limits struct {
	PerSecond [3][3]float64
	set       bool
}

// BusinessLimits are Zoom's Business+ per-second limits.
func BusinessLimits() Limits {
	return Limits{set: true, PerSecond: [3][3]float64{
		FamilyUsers: {Light: 80, Medium: 60, Heavy: 40},
		FamilyPhone: {Light: 40, Medium: 20, Heavy: 10},
		FamilyCC:    {Light: 40, Medium: 20, Heavy: 10},
	}}
}

// Unlimited turns rate limiting off.
func Unlimited() Limits { return Limits{set: true} }

// Options configure a Server.
type Options struct {
	Clock        clockwork.Clock // nil: real time
	Logger       *slog.Logger    // nil: discard
	Limits       Limits          // zero value: BusinessLimits()
	TokenTTL     time.Duration   // 0: one hour
	PageTokenTTL time.Duration   // 0: 15 minutes
	Seed         uint64          // for FailRate and the simulator
	// UnknownFields adds a field Zoom's documents do not name to every
	// object of every answer (users, pages, presence, phone users,
	// agents, statuses, tokens): what Zoom does when it adds a field.
	UnknownFields bool
	// APIURL is the api_url the token answer carries: "" the server's own
	// URL (as Zoom names the account's regional host), "-" none.
	APIURL string
}

// Faults are injected into API calls (not the token endpoint unless
// noted). Set them with SetFaults; counters such as FailNext count down.
type Faults struct {
	FailNext        int           // the next N API calls answer Status
	FailRate        float64       // this fraction of API calls answers Status
	Status          int           // 500, 502, 503, 504 (default 503)
	Latency         time.Duration // added to every API call, on the clock
	StormQPS        int           // the next N API calls answer 429 QPS
	DailyLimitUntil time.Time     // API calls answer 429 Daily-limit until then
	FailTokens      int           // the next N token requests answer 503
	// Routes, if set, limits FailNext and FailRate to these endpoints
	// ("GET /users/{userId}", as the routes are registered).
	Routes []string
	// NoZoomBody: the injected failures answer without Zoom's JSON error
	// body, with an HTML page, as a proxy, a wrong base URL or an outage
	// page does (Status 404 with NoZoomBody is "404 Not Found" from
	// something that is not Zoom).
	NoZoomBody bool

	// Paging misbehaviour, on every listing (users, phone users, agents):
	// RepeatPageToken hands back the token a page was asked with, so the
	// same page comes again and again; EndlessPages never ends a listing:
	// after the last page the next token starts over from the first.
	RepeatPageToken bool
	EndlessPages    bool
}

// FaultHeader marks an answer the fake made up on purpose (an injected
// fault): what a proxy or a misbehaving server would answer, not what
// Zoom's documents describe. Its value names the fault.
const FaultHeader = "X-Zoomfake-Fault"

// Stats count what the server saw.
type Stats struct {
	TokenFetches     map[string]int // successful token grants per account
	Requests         map[string]int // API requests per "METHOD route"
	APIRequests      int
	TooManyQPS       int
	TooManyDaily     int
	ServerErrors     int
	PageTokenErrors  int
	Unauthorized     int
	WebhooksSent     int
	WebhooksAccepted int // 2xx answers
}

// Server is a fake Zoom; it implements http.Handler.
type Server struct {
	opts   Options
	clock  clockwork.Clock
	logger *slog.Logger
	mux    *http.ServeMux
	// handler is mux, wrapped by the contract check when one is set.
	handler http.Handler

	mu         sync.Mutex
	accounts   map[string]*Account
	tokens     map[string]issuedToken
	pageTokens map[string]*cursor
	buckets    map[bucketKey]*bucket
	faults     Faults
	rng        *mathrand.Rand
	stats      Stats

	srv *http.Server
	url string

	subscriptions map[string]*WSSubscription // WebSocket event subscriptions by id; guarded by mu
}

type issuedToken struct {
	account string
	expiry  time.Time
	grant   string // "account_credentials" or "client_credentials"
}

type bucketKey struct {
	account       string
	family, label int
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a fake Zoom with no accounts.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if !opts.Limits.set {
		opts.Limits = BusinessLimits()
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.PageTokenTTL <= 0 {
		opts.PageTokenTTL = 15 * time.Minute
	}
	s := &Server{
		opts: opts, clock: opts.Clock, logger: opts.Logger,
		accounts: map[string]*Account{}, tokens: map[string]issuedToken{},
		pageTokens: map[string]*cursor{}, buckets: map[bucketKey]*bucket{},
		rng: mathrand.New(mathrand.NewPCG(opts.Seed, 0x5eed)),
	}
	s.ResetStats()
	s.routes()
	s.handler = s.mux
	if c := contractCheck.Load(); c != nil {
		s.handler = (*c).Handler(s.mux)
	}
	return s
}

// Start is New plus a real listener on 127.0.0.1 (for the demo and
// benchmarks); Close stops it.
func Start(opts Options) (*Server, error) {
	s := New(opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.url = "http://" + l.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// URL is the root URL of a started server.
func (s *Server) URL() string { return s.url }

// SetURL tells a server mounted elsewhere (httptest) its own root URL.
func (s *Server) SetURL(u string) { s.url = strings.TrimSuffix(u, "/") }

// APIBaseURL is URL()+"/v2".
func (s *Server) APIBaseURL() string { return s.url + "/v2" }

// TokenURL is URL()+"/oauth/token".
func (s *Server) TokenURL() string { return s.url + "/oauth/token" }

// Close stops a started server.
func (s *Server) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-zm-trackingid", newTrackingID())
	if r.URL.Path == "/ws" {
		// The socket endpoint is outside the REST documents the contract
		// check holds, and a hijacked connection cannot be recorded.
		s.handleWebSocket(w, r)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// ExpirePageTokens invalidates every outstanding next_page_token.
func (s *Server) ExpirePageTokens() {
	s.mu.Lock()
	s.pageTokens = map[string]*cursor{}
	s.mu.Unlock()
}

// ExpireAccessTokens invalidates every issued access token.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	s.tokens = map[string]issuedToken{}
	s.mu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.TokenFetches = copyMap(s.stats.TokenFetches)
	st.Requests = copyMap(s.stats.Requests)
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	s.stats = Stats{TokenFetches: map[string]int{}, Requests: map[string]int{}}
	s.mu.Unlock()
}

func copyMap(m map[string]int) map[string]int {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// AddAccount creates an account with generated users.
func (s *Server) AddAccount(spec AccountSpec) *Account {
	a := newAccount(s, spec)
	s.mu.Lock()
	s.accounts[spec.ID] = a
	s.mu.Unlock()
	return a
}

// Account returns an account by id, nil if unknown.
func (s *Server) Account(id string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[id]
}

// apiRoute registers an authenticated, rate-limited, fault-injected API
// endpoint. h runs with the caller's account.
func (s *Server) apiRoute(pattern string, family, label int, h func(w http.ResponseWriter, r *http.Request, a *Account)) {
	method, route, _ := strings.Cut(pattern, " ")
	s.mux.HandleFunc(method+" /v2"+route, func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.admit(w, r, pattern, family, label)
		if ok {
			h(w, r, a)
		}
	})
}

// admit applies, in Zoom's order as far as it is observable: latency,
// authentication, daily limit, QPS limit, injected server errors.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, pattern string, family, label int) (*Account, bool) {
	s.mu.Lock()
	latency := s.faults.Latency
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-s.clock.After(latency):
		case <-r.Context().Done():
			return nil, false
		}
	}
	auth := r.Header.Get("Authorization")
	tok, hasBearer := strings.CutPrefix(auth, "Bearer ")
	now := s.clock.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.APIRequests++
	s.stats.Requests[pattern]++
	it, known := s.tokens[tok]
	switch {
	case !hasBearer || !known:
		s.stats.Unauthorized++
		writeError(w, http.StatusUnauthorized, 124, "Invalid access token.")
		return nil, false
	case !now.Before(it.expiry):
		s.stats.Unauthorized++
		writeError(w, http.StatusUnauthorized, 124, "Access token is expired.")
		return nil, false
	}
	a := s.accounts[it.account]
	f := &s.faults
	if now.Before(f.DailyLimitUntil) {
		s.stats.TooManyDaily++
		h := w.Header()
		h.Set("X-RateLimit-Category", labelTitles[label])
		h.Set("X-RateLimit-Type", "Daily-limit")
		h.Set("X-RateLimit-Limit", "30000")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("Retry-After", f.DailyLimitUntil.UTC().Format(time.RFC3339))
		writeError(w, http.StatusTooManyRequests, 429, "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request.")
		return nil, false
	}
	if f.StormQPS > 0 || !s.take(bucketKey{it.account, family, label}, now) {
		if f.StormQPS > 0 {
			f.StormQPS--
		}
		s.stats.TooManyQPS++
		w.Header().Set("X-RateLimit-Category", labelTitles[label])
		w.Header().Set("X-RateLimit-Type", "QPS")
		writeError(w, http.StatusTooManyRequests, 429, "You have reached the maximum per-second rate limit for this API. Try again later.")
		return nil, false
	}
	if (f.FailNext > 0 || (f.FailRate > 0 && s.rng.Float64() < f.FailRate)) && (len(f.Routes) == 0 || slices.Contains(f.Routes, pattern)) {
		if f.FailNext > 0 {
			f.FailNext--
		}
		s.stats.ServerErrors++
		status := f.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set(FaultHeader, "injected "+strconv.Itoa(status))
		if status == http.StatusBadGateway || f.NoZoomBody {
			// What a load balancer or proxy in front of Zoom answers: not JSON.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
			return nil, false
		}
		writeError(w, status, status, "Internal Error. Please try again later.")
		return nil, false
	}
	return a, true
}

// take spends one token of a bucket (caller holds s.mu).
func (s *Server) take(k bucketKey, now time.Time) bool {
	rate := s.opts.Limits.PerSecond[k.family][k.label]
	if rate <= 0 {
		return true
	}
	b := s.buckets[k]
	if b == nil {
		b = &bucket{tokens: rate, last: now}
		s.buckets[k] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * rate
	if b.tokens > rate {
		b.tokens = rate
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// writeOK answers 200 with v, adding an undocumented field to every
// object in it when Options.UnknownFields asks for them.
func (s *Server) writeOK(w http.ResponseWriter, v any) {
	if s.opts.UnknownFields {
		addUnknownFields(v)
	}
	writeJSON(w, http.StatusOK, v)
}

// UnknownField is the field Options.UnknownFields adds.
const UnknownField = "zoomfake_unknown_field"

func addUnknownFields(v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			addUnknownFields(e)
		}
		v[UnknownField] = map[string]any{"added_by": "zoomfake", "list": []int{1, 2}}
	case []map[string]any:
		for _, e := range v {
			addUnknownFields(e)
		}
	case []map[string]string:
		// statuses and phone numbers: left as they are
	case []any:
		for _, e := range v {
			addUnknownFields(e)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

func newTrackingID() string { return "v=2.0;clid=us06;rid=" + randomHex(12) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
