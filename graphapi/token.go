package graphapi

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// Scope is what an app-only token asks for: every application permission
// consented for the app.
const Scope = "https://graph.microsoft.com/.default"

// Credentials are an app registration in a tenant and one of its
// credentials: a client secret or a certificate.
type Credentials struct {
	TenantID string
	ClientID string
	// Secret returns the client secret; it is called at each token fetch
	// (a secret read from a file follows the file). Nil with Certificate.
	Secret func() (secret.Secret, error)
	// Certificate signs a client assertion instead of a secret.
	Certificate *Certificate
}

// LogValue never includes the credential.
func (c Credentials) LogValue() slog.Value {
	kind := "secret"
	if c.Certificate != nil {
		kind = "certificate " + c.Certificate.Thumbprint()
	}
	return slog.GroupValue(slog.String("tenant_id", c.TenantID), slog.String("client_id", c.ClientID), slog.String("credential", kind))
}

// String never includes the credential.
func (c Credentials) String() string {
	return fmt.Sprintf("{tenant_id:%s client_id:%s}", c.TenantID, c.ClientID)
}

// SecretFile returns a Secret func reading the secret from path (its
// whole content, surrounding white space trimmed).
func SecretFile(path string) func() (secret.Secret, error) {
	return func() (secret.Secret, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return secret.Secret{}, fmt.Errorf("client secret file %s: %v", path, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return secret.Secret{}, fmt.Errorf("client secret file %s is empty", path)
		}
		return secret.New(s), nil
	}
}

// Certificate is an app's certificate credential: the certificate
// uploaded to the app registration and its private key.
type Certificate struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// Thumbprint is the certificate's SHA-1 thumbprint in hex, as the Entra
// portal shows it.
func (c *Certificate) Thumbprint() string {
	s := sha1.Sum(c.Cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// String never includes the key.
func (c *Certificate) String() string { return "certificate " + c.Thumbprint() }

// LoadCertificate reads a PEM file holding the certificate and its RSA
// private key (PKCS#1 or PKCS#8), as `openssl req -x509 -newkey rsa:2048
// -nodes` writes them concatenated.
func LoadCertificate(path string) (*Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("certificate file %s: %v", path, err)
	}
	return ParseCertificate(b)
}

// ParseCertificate reads a certificate and its RSA key from PEM.
func ParseCertificate(pemBytes []byte) (*Certificate, error) {
	var c Certificate
	for {
		var blk *pem.Block
		blk, pemBytes = pem.Decode(pemBytes)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			if c.Cert == nil {
				cert, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return nil, fmt.Errorf("certificate: %v", err)
				}
				c.Cert = cert
			}
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				return nil, errors.New("private key: not a PKCS#1 RSA key")
			}
			c.Key = k
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			rk, ok := k.(*rsa.PrivateKey)
			if err != nil || !ok {
				return nil, errors.New("private key: not an RSA key (Entra client assertions are RS256)")
			}
			c.Key = rk
		}
	}
	if c.Cert == nil || c.Key == nil {
		return nil, errors.New("want a PEM file with a CERTIFICATE and its RSA PRIVATE KEY")
	}
	if pub, ok := c.Cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(c.Key.Public()) {
		return nil, errors.New("the private key does not belong to the certificate")
	}
	return &c, nil
}

// assertion is the signed JWT a certificate credential sends: RS256,
// x5t (SHA-1) and x5t#S256 headers, aud the token URL, iss = sub = the
// client id, valid for ten minutes.
func (c *Certificate) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Audience: jwt.ClaimStrings{tokenURL}, Issuer: clientID, Subject: clientID, ID: hex.EncodeToString(jti[:]),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	})
	s1, s256 := sha1.Sum(c.Cert.Raw), sha256.Sum256(c.Cert.Raw)
	tok.Header["x5t"] = base64.RawURLEncoding.EncodeToString(s1[:])
	tok.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(s256[:])
	var signer crypto.Signer = c.Key
	return tok.SignedString(signer)
}

type accessToken struct {
	value  string
	expiry time.Time
}

// tokenSource caches one access token. sem (capacity 1) admits one
// fetcher at a time.
//
// The exchange is one form POST (written out, as zoomapi's is):
// Microsoft's MSAL for Go keeps its token cache on the wall clock and
// needs the authority's discovery documents, and x/oauth2's
// clientcredentials has no client assertion nor an injectable clock.
type tokenSource struct {
	creds    Credentials
	tokenURL string
	http     *http.Client
	clock    clockwork.Clock
	onFetch  func(error)

	sem chan struct{}
	cur *accessToken // guarded by sem
}

// refreshMargin: a token is replaced this long before it expires.
const refreshMargin = 5 * time.Minute

func (ts *tokenSource) token(ctx context.Context) (string, error) {
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-ts.sem }()
	if ts.cur != nil && ts.clock.Now().Before(ts.cur.expiry.Add(-refreshMargin)) {
		return ts.cur.value, nil
	}
	tok, err := ts.fetch(ctx)
	if ts.onFetch != nil {
		ts.onFetch(err)
	}
	if err != nil {
		return "", err
	}
	ts.cur = tok
	return tok.value, nil
}

// invalidate forgets value if it is still the cached token.
func (ts *tokenSource) invalidate(value string) {
	ts.sem <- struct{}{}
	if ts.cur != nil && ts.cur.value == value {
		ts.cur = nil
	}
	<-ts.sem
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	TraceID     string `json:"trace_id"`
}

func (ts *tokenSource) fetch(ctx context.Context) (*accessToken, error) {
	const op = "graphapi.token"
	now := ts.clock.Now()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.creds.ClientID}, "scope": {Scope}}
	switch {
	case ts.creds.Certificate != nil:
		a, err := ts.creds.Certificate.assertion(ts.creds.ClientID, ts.tokenURL, now)
		if err != nil {
			return nil, &Error{Op: op, Kind: errs.Invalid, Message: "cannot sign the client assertion", Err: err}
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	case ts.creds.Secret != nil:
		s, err := ts.creds.Secret()
		if err != nil {
			return nil, &Error{Op: op, Kind: errs.Auth, Message: err.Error()}
		}
		form.Set("client_secret", s.Reveal())
	default:
		return nil, &Error{Op: op, Kind: errs.Invalid, Message: "no client secret or certificate"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &Error{Op: op, Kind: errs.Invalid, Message: "bad login URL"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := ts.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Op: op, Kind: errs.Transient, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ans tokenAnswer
	jerr := json.Unmarshal(body, &ans)
	if resp.StatusCode/100 != 2 {
		e := &Error{Op: op, Status: resp.StatusCode, Code: printable(ans.Error), Message: printable(ans.Description),
			RequestID: printable(ans.TraceID)}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			e.Kind, e.RetryAt = errs.RateLimited, retryAfter(resp.Header.Get("Retry-After"), now)
		case resp.StatusCode >= 500:
			e.Kind = errs.Transient
		default:
			// A wrong secret, certificate, client id or tenant, a revoked
			// app: retrying will not help.
			e.Kind = errs.Auth
		}
		return nil, e
	}
	if jerr != nil || ans.AccessToken == "" || ans.ExpiresIn <= 0 {
		return nil, &Error{Op: op, Status: resp.StatusCode, Kind: errs.Transient, Message: "token answer without access_token or expires_in"}
	}
	life := time.Duration(min(ans.ExpiresIn, 24*3600)) * time.Second
	return &accessToken{value: ans.AccessToken, expiry: now.Add(life)}, nil
}

// stripURL keeps a transport error's cause without the URL (the login
// URL holds nothing secret, but the query of a misconfigured one might).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return err
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparseable URL]"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
