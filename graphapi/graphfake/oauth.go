package graphfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// GraphScope is the only scope a client-credentials request may ask for.
const GraphScope = "https://graph.microsoft.com/.default"

// AssertionType is client_assertion_type for a certificate credential.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

type issuedToken struct {
	tenant   *Tenant
	clientID string
	roles    map[string]bool // as consented when issued
	expires  time.Time
}

// tokenPath recognises /{tenant}/oauth2/v2.0/token.
func tokenPath(p string) (string, bool) {
	rest, ok := strings.CutSuffix(p, "/oauth2/v2.0/token")
	if !ok || !strings.HasPrefix(rest, "/") || strings.Count(rest, "/") != 1 || len(rest) < 2 {
		return "", false
	}
	return rest[1:], true
}

// tokenError is OAuth's error answer as Entra writes it.
type tokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	Timestamp   string `json:"timestamp"`
	TraceID     string `json:"trace_id"`
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, tenantID string) {
	now := s.clock.Now()
	fail := func(status int, code string, aadsts int, desc string) {
		s.mu.Lock()
		s.stats.TokenFailures++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(tokenError{Error: code, Description: fmt.Sprintf("AADSTS%d: %s", aadsts, desc),
			Codes: []int{aadsts}, Timestamp: now.UTC().Format("2006-01-02 15:04:05Z"), TraceID: w.Header().Get("request-id")})
	}
	s.mu.Lock()
	down := s.faults.LoginDown
	s.mu.Unlock()
	if down {
		fail(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
		return
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.")
		return
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		fail(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	}
	if f.Get("scope") != GraphScope {
		fail(http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
		return
	}
	s.mu.Lock()
	t := s.tenants[strings.ToLower(tenantID)]
	var a *app
	if t != nil {
		a = t.apps[strings.ToLower(f.Get("client_id"))]
	}
	s.mu.Unlock()
	if t == nil {
		fail(http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenantID))
		return
	}
	if a == nil {
		fail(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", f.Get("client_id")))
		return
	}
	switch {
	case f.Get("client_secret") != "":
		s.mu.Lock()
		good := a.secret != "" && a.secret == f.Get("client_secret")
		s.mu.Unlock()
		if !good {
			fail(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
			return
		}
	case f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != AssertionType {
			fail(http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type.")
			return
		}
		aud := "http://" + r.Host + r.URL.Path
		if err := s.checkAssertion(a, f.Get("client_assertion"), aud, now); err != nil {
			fail(http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation: "+err.Error())
			return
		}
	default:
		fail(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	value := "eyJ0eXAiOiJKV1QiLCJmYWtlIjoiZ3JhcGgifQ." + base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	roles := make(map[string]bool, len(a.roles))
	for k := range a.roles {
		roles[k] = true
	}
	for v, old := range s.tokens { // forget expired tokens: memory stays bounded
		if now.After(old.expires.Add(time.Hour)) {
			delete(s.tokens, v)
		}
	}
	s.tokens[value] = &issuedToken{tenant: t, clientID: a.clientID, roles: roles, expires: now.Add(s.opts.TokenTTL)}
	s.stats.TokenGrants++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	secs := int64(s.opts.TokenTTL/time.Second) - 1
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": value})
}

// checkAssertion verifies a certificate credential's JWT.
func (s *Server) checkAssertion(a *app, assertion, aud string, now time.Time) error {
	s.mu.Lock()
	thumbs := a.thumbs
	s.mu.Unlock()
	_, err := jwt.Parse(assertion, func(tok *jwt.Token) (any, error) {
		for _, h := range []string{"x5t#S256", "x5t"} {
			if v, _ := tok.Header[h].(string); v != "" {
				if c := thumbs[v]; c != nil {
					return c.PublicKey, nil
				}
				return nil, fmt.Errorf("no certificate with %s %s is registered for the app", h, v)
			}
		}
		return nil, fmt.Errorf("the assertion names no certificate (x5t or x5t#S256)")
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithAudience(aud), jwt.WithIssuer(a.clientID), jwt.WithSubject(a.clientID), jwt.WithExpirationRequired())
	return err
}

// authenticate checks a Bearer token.
func (s *Server) authenticate(header string) (*issuedToken, *answer) {
	value, ok := strings.CutPrefix(header, "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tokens[value]
	switch {
	case !ok || value == "":
		s.stats.Unauthorized++
		return nil, graphErr(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
	case tok == nil:
		s.stats.Unauthorized++
		return nil, graphErr(http.StatusUnauthorized, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
	case !s.clock.Now().Before(tok.expires):
		s.stats.Unauthorized++
		return nil, graphErr(http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
	}
	return tok, nil
}

// ExpireTokens makes every issued token expired now (as a clock skew or a
// revoked session would).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, t := range s.tokens {
		if t.expires.After(now) {
			t.expires = now
		}
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
