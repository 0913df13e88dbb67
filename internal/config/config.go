package config

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/adhocore/gronx"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// raw is every variable as text, with SPEC §3's defaults.
type raw struct {
	HTTPAddr  string `env:"ZOOMSYNC_HTTP_ADDR, default=:8080"`
	AdminAddr string `env:"ZOOMSYNC_ADMIN_ADDR, default=127.0.0.1:8081"`

	RedisURL        string `env:"ZOOMSYNC_REDIS_URL"`
	RedisAddrs      string `env:"ZOOMSYNC_REDIS_ADDRS"`
	RedisMasterName string `env:"ZOOMSYNC_REDIS_MASTER_NAME"`
	RedisReplicas   string `env:"ZOOMSYNC_REDIS_MIN_REPLICAS, default=0"`

	RedisUsername              string `env:"ZOOMSYNC_REDIS_USERNAME"`
	RedisPassword              string `env:"ZOOMSYNC_REDIS_PASSWORD"`
	RedisPasswordFile          string `env:"ZOOMSYNC_REDIS_PASSWORD_FILE"`
	RedisSentinelUsername      string `env:"ZOOMSYNC_REDIS_SENTINEL_USERNAME"`
	RedisSentinelPassword      string `env:"ZOOMSYNC_REDIS_SENTINEL_PASSWORD"`
	RedisSentinelPasswordFile  string `env:"ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE"`
	RedisTLS                   string `env:"ZOOMSYNC_REDIS_TLS, default=false"`
	RedisTLSCAFile             string `env:"ZOOMSYNC_REDIS_TLS_CA_FILE"`
	RedisTLSCertFile           string `env:"ZOOMSYNC_REDIS_TLS_CERT_FILE"`
	RedisTLSKeyFile            string `env:"ZOOMSYNC_REDIS_TLS_KEY_FILE"`
	RedisTLSServerName         string `env:"ZOOMSYNC_REDIS_TLS_SERVER_NAME"`
	RedisTLSInsecureSkipVerify string `env:"ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY, default=false"`

	ZoomAccountID     string `env:"ZOOM_ACCOUNT_ID"`
	ZoomClientID      string `env:"ZOOM_CLIENT_ID"`
	ZoomClientSecret  string `env:"ZOOM_CLIENT_SECRET"`
	ZoomWebhookSecret string `env:"ZOOM_WEBHOOK_SECRET_TOKEN"`
	ZoomWebhookNext   string `env:"ZOOM_WEBHOOK_SECRET_TOKEN_NEXT"`
	AccountsFile      string `env:"ZOOMSYNC_ACCOUNTS_FILE"`
	ZoomAPIBaseURL    string `env:"ZOOM_API_BASE_URL"` // empty: unset (see Zoom.APIBaseURLFor)
	ZoomTokenURL      string `env:"ZOOM_OAUTH_TOKEN_URL, default=https://zoom.us/oauth/token"`
	ZoomPlan          string `env:"ZOOMSYNC_ZOOM_PLAN, default=business"`
	ZoomRateLimits    string `env:"ZOOMSYNC_ZOOM_RATE_LIMITS"`

	ZoomWebSocketURL          string `env:"ZOOM_WEBSOCKET_URL"`
	ZoomWebSocketSubscription string `env:"ZOOM_WEBSOCKET_SUBSCRIPTION_ID"`
	WebSocketHeartbeat        string `env:"ZOOMSYNC_WEBSOCKET_HEARTBEAT, default=30s"`
	WebSocketReadTimeout      string `env:"ZOOMSYNC_WEBSOCKET_READ_TIMEOUT, default=60s"`
	WebSocketRepairRate       string `env:"ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND, default=10"`

	LDAPURL                string `env:"LDAP_URL"`
	LDAPStartTLS           string `env:"LDAP_START_TLS, default=false"`
	LDAPCAFile             string `env:"LDAP_CA_FILE"`
	LDAPInsecureSkipVerify string `env:"LDAP_INSECURE_SKIP_VERIFY, default=false"`
	LDAPBindDN             string `env:"LDAP_BIND_DN"`
	LDAPBindPassword       string `env:"LDAP_BIND_PASSWORD"`
	LDAPBaseDN             string `env:"LDAP_BASE_DN"`
	LDAPUserFilter         string `env:"LDAP_USER_FILTER, default=(objectClass=inetOrgPerson)"`
	LDAPGroupDN            string `env:"LDAP_GROUP_DN"`
	LDAPPageSize           string `env:"LDAP_PAGE_SIZE, default=500"`
	DirectoryRefresh       string `env:"ZOOMSYNC_DIRECTORY_REFRESH, default=15m"`

	MatchRules  string `env:"ZOOMSYNC_MATCH_RULES, default=email=mail"`
	APITokens   string `env:"ZOOMSYNC_API_TOKENS"`
	APIRate     string `env:"ZOOMSYNC_API_RATE_LIMIT, default=100"`
	StreamMax   string `env:"ZOOMSYNC_STREAM_MAX_CONNECTIONS, default=500"`
	StreamToken string `env:"ZOOMSYNC_STREAM_MAX_PER_TOKEN, default=100"`
	TargetsFile string `env:"ZOOMSYNC_TARGETS_FILE"`

	PresenceMaxAge   string `env:"ZOOMSYNC_PRESENCE_MAX_AGE, default=15m"`
	PresenceReadRate string `env:"ZOOMSYNC_PRESENCE_READS_PER_SECOND, default=5"`
	CallMaxDuration  string `env:"ZOOMSYNC_CALL_MAX_DURATION, default=4h"`
	PresenceHistory  string `env:"ZOOMSYNC_PRESENCE_HISTORY, default=168h"`

	ResyncSchedule    string `env:"ZOOMSYNC_RESYNC_SCHEDULE, default=0 2 * * *"`
	MaxDeleteFraction string `env:"ZOOMSYNC_MAX_DELETE_FRACTION, default=0.05"`
	TombstoneTTL      string `env:"ZOOMSYNC_TOMBSTONE_TTL, default=168h"`

	LogLevel  string `env:"ZOOMSYNC_LOG_LEVEL, default=info"`
	LogFormat string `env:"ZOOMSYNC_LOG_FORMAT, default=json"`
}

// Config is the validated configuration.
type Config struct {
	HTTP     HTTP
	Redis    Redis
	Zoom     Zoom
	LDAP     LDAP
	Mapping  Mapping
	API      API
	Targets  Targets
	Presence Presence
	Resync   Resync
	Log      Log
	// WebSocket tunes the WebSocket event subscriptions (websocket.go).
	WebSocket WebSocket
}

// HTTP is the listeners: Addr takes Zoom's webhooks (it must be reachable
// from the internet) and AdminAddr the helpdesk API, board, metrics and
// OpenAPI document (which must not be); both answer /healthz and /readyz.
// Equal addresses serve everything on one listener.
type HTTP struct{ Addr, AdminAddr string }

// Shared reports whether one listener serves everything.
func (h HTTP) Shared() bool { return h.AdminAddr == h.Addr }

// Redis says where state lives and how to reach it (URL, Addrs,
// MasterName, credentials, TLS: redisconn.Settings). All empty: embedded,
// not durable.
type Redis struct {
	redisconn.Settings
	// MinReplicas: a webhook is acknowledged only once this many replicas
	// have its inbox entry too (WAIT), so a failover cannot lose it.
	MinReplicas int
}

// Account is one Zoom account's Server-to-Server OAuth app.
type Account struct {
	ID            string        `json:"account_id"`
	ClientID      string        `json:"client_id"`
	ClientSecret  secret.Secret `json:"client_secret"`
	WebhookSecret secret.Secret `json:"webhook_secret_token"`
	WebhookNext   secret.Secret `json:"webhook_secret_token_next,omitempty"` // also verifies, during a rotation
	Name          string        `json:"name,omitempty"`
	// APIBaseURL is this account's REST base URL (api_base_url in the
	// accounts file); empty: see Zoom.APIBaseURLFor.
	APIBaseURL string `json:"api_base_url,omitempty"`
	// WebSocketSubscriptionID or WebSocketURL name the account's
	// WebSocket event subscription (websocket.go); both empty: webhooks
	// only.
	WebSocketSubscriptionID string `json:"websocket_subscription_id,omitempty"`
	WebSocketURL            string `json:"websocket_url,omitempty"`
}

// Credentials returns the account's OAuth credentials for zoomapi.
func (a Account) Credentials() zoomapi.Credentials {
	return zoomapi.Credentials{AccountID: a.ID, ClientID: a.ClientID, ClientSecret: a.ClientSecret}
}

// Zoom is how to reach Zoom.
type Zoom struct {
	Accounts []Account
	// APIBaseURL is ZOOM_API_BASE_URL when it is set, else empty.
	APIBaseURL string
	TokenURL   string
	Plan       string
	RateLimits zoomapi.RateLimits
	// AccountsFile is ZOOMSYNC_ACCOUNTS_FILE, "" when every account comes
	// from the environment. ReloadAccounts reads it again.
	AccountsFile string
	// envAccount is the ZOOM_* account, nil when none: a reload keeps it.
	envAccount *Account
}

// ReloadAccounts reads the accounts file again and checks it as Load
// does, returning the accounts Load would return now (the ZOOM_* account,
// if any, as it was: the environment of a running process does not
// change). Errors name ZOOMSYNC_ACCOUNTS_FILE and never carry a secret.
func (z Zoom) ReloadAccounts() ([]Account, error) {
	return loadAccounts(z.AccountsFile, z.envAccount)
}

// APIBaseURLFor is the REST base URL set for an account: its own
// api_base_url, else ZOOM_API_BASE_URL when set, else empty, and then the
// client follows the api_url Zoom returns with each token (the account's
// regional host), else zoomapi.DefaultBaseURL. A URL set here is never
// replaced by a token's api_url.
func (z Zoom) APIBaseURLFor(a Account) string {
	if a.APIBaseURL != "" {
		return a.APIBaseURL
	}
	return z.APIBaseURL
}

// LDAP is the directory; an empty URL disables it.
type LDAP struct {
	URL                string
	StartTLS           bool
	CAFile             string
	InsecureSkipVerify bool
	BindDN             string
	BindPassword       secret.Secret
	BaseDN             string
	UserFilter         string
	// GroupDN narrows people to the members of one group (nested ones on
	// Active Directory); empty: everyone UserFilter selects.
	GroupDN  string
	PageSize int
	// Refresh is how often the directory is read again (also at every full
	// resync).
	Refresh time.Duration
}

// Enabled reports whether a directory is configured.
func (l LDAP) Enabled() bool { return l.URL != "" }

// MatchRule links a Zoom field to an LDAP attribute.
type MatchRule struct {
	ZoomField     string
	LDAPAttribute string
}

func (r MatchRule) String() string { return r.ZoomField + "=" + r.LDAPAttribute }

// Mapping holds the ordered match rules.
type Mapping struct{ Rules []MatchRule }

// API holds the helpdesk API's bearer tokens; none means every API call
// answers 401.
type API struct {
	Tokens []secret.Secret
	// RateLimit is each token's requests per second (burst: twice that);
	// 0: unlimited.
	RateLimit float64
	// StreamMax and StreamMaxPerToken cap this process's open live
	// streams (GET /v1/presence/stream), in all and per token; 0: none.
	StreamMax, StreamMaxPerToken int
}

// Targets holds the presence targets file's entries, checked for a unique
// name and a type; each target type validates its own fields.
type Targets struct {
	File string
	// Entries are the file's entries as written: they hold the targets'
	// secrets and URLs, so they never marshal (Configs print redacted).
	Entries []json.RawMessage `json:"-"`
	Configs []target.Config   // Entries, parsed and checked by their type
}

// Names lists the targets' names.
func (t Targets) Names() []string {
	out := make([]string, len(t.Configs))
	for i, c := range t.Configs {
		out[i] = c.Name
	}
	return out
}

// Presence tunes the presence engine.
type Presence struct {
	// MaxAge: a user whose presence nothing confirmed for this long is
	// re-read through the REST presence API.
	MaxAge time.Duration
	// ReadsPerSecond bounds those re-reads per account (Zoom's Medium
	// label, shared with every other Medium call of the account).
	ReadsPerSecond float64
	// CallMax: a call without its end event is closed after this long.
	CallMax time.Duration
	// History: how long each user's status history is kept.
	History time.Duration
}

// Resync holds the full-resync schedule and safety limits.
type Resync struct {
	Schedule          string // cron, UTC; empty when off
	MaxDeleteFraction float64
	TombstoneTTL      time.Duration
}

// Enabled reports whether a schedule is set.
func (r Resync) Enabled() bool { return r.Schedule != "" }

// Log configures slog.
type Log struct {
	Level  slog.Level
	Format string // json or text
}

// ZoomFields are the Zoom user fields a match rule may use.
var ZoomFields = []string{"email", "employee_unique_id", "id", "extension"}

// minTombstoneTTL outlives Zoom's last webhook retry (5 + 20 + 60 minutes
// after the first attempt) with a margin.
const minTombstoneTTL = 90 * time.Minute

// Load reads and validates the configuration.
func Load(ctx context.Context, lookuper envconfig.Lookuper) (*Config, error) {
	var r raw
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &r, Lookuper: lookuper}); err != nil {
		return nil, fmt.Errorf("reading the environment: %w", err)
	}
	c := &Config{}
	for _, step := range []func(*raw, *Config) error{
		parseHTTP, parseRedis, parseZoom, parseLDAP, parseMapping, parseAPI, parseTargets, parsePresence, parseResync, parseLog, parseWebSocket,
	} {
		if err := step(&r, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// varError is a configuration error naming its variable.
type varError struct {
	Var string
	Msg string
}

func (e *varError) Error() string { return e.Var + ": " + e.Msg }

func bad(name, format string, args ...any) error {
	return &varError{Var: name, Msg: fmt.Sprintf(format, args...)}
}

func parseHTTP(r *raw, c *Config) error {
	if _, port, err := net.SplitHostPort(r.HTTPAddr); err != nil || port == "" {
		return bad("ZOOMSYNC_HTTP_ADDR", "must be host:port or :port, got %q", r.HTTPAddr)
	}
	if _, port, err := net.SplitHostPort(r.AdminAddr); err != nil || port == "" {
		return bad("ZOOMSYNC_ADMIN_ADDR", "must be host:port or :port (equal to ZOOMSYNC_HTTP_ADDR for one listener), got %q", r.AdminAddr)
	}
	c.HTTP.Addr, c.HTTP.AdminAddr = r.HTTPAddr, r.AdminAddr
	return nil
}

func parseRedis(r *raw, c *Config) error {
	addrs := splitList(r.RedisAddrs)
	switch {
	case r.RedisURL != "" && len(addrs) > 0:
		return bad("ZOOMSYNC_REDIS_URL", "set either ZOOMSYNC_REDIS_URL or ZOOMSYNC_REDIS_ADDRS, not both")
	case r.RedisMasterName != "" && len(addrs) == 0:
		return bad("ZOOMSYNC_REDIS_MASTER_NAME", "needs ZOOMSYNC_REDIS_ADDRS (the Sentinel addresses)")
	}
	if r.RedisURL != "" {
		if !strings.HasPrefix(r.RedisURL, "redis://") && !strings.HasPrefix(r.RedisURL, "rediss://") {
			return bad("ZOOMSYNC_REDIS_URL", "must start with redis:// or rediss://")
		}
		if _, err := redis.ParseURL(r.RedisURL); err != nil {
			// The parser's message may quote the URL; keep only the kind of problem.
			return bad("ZOOMSYNC_REDIS_URL", "is not a valid Redis URL")
		}
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return bad("ZOOMSYNC_REDIS_ADDRS", "%q is not host:port", a)
		}
	}
	c.Redis = Redis{Settings: redisconn.Settings{URL: secret.New(r.RedisURL), Addrs: addrs, MasterName: r.RedisMasterName}}
	n, err := strconv.Atoi(strings.TrimSpace(r.RedisReplicas))
	if err != nil || n < 0 || n > 5 {
		return bad("ZOOMSYNC_REDIS_MIN_REPLICAS", "must be a whole number from 0 to 5, got %q", r.RedisReplicas)
	}
	c.Redis.MinReplicas = n
	return parseRedisSecurity(r, &c.Redis.Settings)
}

// parseRedisSecurity reads the credentials and TLS settings. Rules: the
// credentials come from the URL or from the variables, never both; a
// password comes from its variable or its _FILE, never both; TLS settings
// need TLS on (ZOOMSYNC_REDIS_TLS=true, or a rediss:// URL); none of it
// applies to the embedded Redis, and the Sentinel ones need Sentinel.
func parseRedisSecurity(r *raw, s *redisconn.Settings) error {
	var err error
	s.Username = r.RedisUsername
	if s.Password, err = secretOrFile("ZOOMSYNC_REDIS_PASSWORD", r.RedisPassword, r.RedisPasswordFile); err != nil {
		return err
	}
	s.SentinelUsername = r.RedisSentinelUsername
	if s.SentinelPassword, err = secretOrFile("ZOOMSYNC_REDIS_SENTINEL_PASSWORD", r.RedisSentinelPassword, r.RedisSentinelPasswordFile); err != nil {
		return err
	}
	t := redisconn.TLS{CAFile: r.RedisTLSCAFile, CertFile: r.RedisTLSCertFile, KeyFile: r.RedisTLSKeyFile, ServerName: strings.TrimSpace(r.RedisTLSServerName)}
	if t.Enabled, err = parseBool("ZOOMSYNC_REDIS_TLS", r.RedisTLS); err != nil {
		return err
	}
	if t.InsecureSkipVerify, err = parseBool("ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY", r.RedisTLSInsecureSkipVerify); err != nil {
		return err
	}
	set := []struct {
		name string
		on   bool
	}{
		{"ZOOMSYNC_REDIS_USERNAME", s.Username != ""},
		{"ZOOMSYNC_REDIS_PASSWORD", r.RedisPassword != ""},
		{"ZOOMSYNC_REDIS_PASSWORD_FILE", r.RedisPasswordFile != ""},
		{"ZOOMSYNC_REDIS_SENTINEL_USERNAME", s.SentinelUsername != ""},
		{"ZOOMSYNC_REDIS_SENTINEL_PASSWORD", r.RedisSentinelPassword != ""},
		{"ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE", r.RedisSentinelPasswordFile != ""},
		{"ZOOMSYNC_REDIS_TLS", t.Enabled},
		{"ZOOMSYNC_REDIS_TLS_CA_FILE", t.CAFile != ""},
		{"ZOOMSYNC_REDIS_TLS_CERT_FILE", t.CertFile != ""},
		{"ZOOMSYNC_REDIS_TLS_KEY_FILE", t.KeyFile != ""},
		{"ZOOMSYNC_REDIS_TLS_SERVER_NAME", t.ServerName != ""},
		{"ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY", t.InsecureSkipVerify},
	}
	for _, v := range set {
		switch {
		case !v.on:
		case s.Embedded():
			return bad(v.name, "needs ZOOMSYNC_REDIS_URL or ZOOMSYNC_REDIS_ADDRS (the embedded Redis takes no credentials or TLS)")
		case strings.HasPrefix(v.name, "ZOOMSYNC_REDIS_SENTINEL_") && s.MasterName == "":
			return bad(v.name, "applies to Sentinels only (with ZOOMSYNC_REDIS_MASTER_NAME)")
		}
	}
	if s.URLHasCredentials() && (s.Username != "" || !s.Password.IsZero()) {
		name := "ZOOMSYNC_REDIS_USERNAME"
		switch {
		case r.RedisPasswordFile != "":
			name = "ZOOMSYNC_REDIS_PASSWORD_FILE"
		case r.RedisPassword != "":
			name = "ZOOMSYNC_REDIS_PASSWORD"
		}
		return bad(name, "ZOOMSYNC_REDIS_URL already carries credentials: set them in one place, not both")
	}
	if s.Username != "" && s.Password.IsZero() {
		return bad("ZOOMSYNC_REDIS_PASSWORD", "is required with ZOOMSYNC_REDIS_USERNAME (or ZOOMSYNC_REDIS_PASSWORD_FILE)")
	}
	if s.SentinelUsername != "" && s.SentinelPassword.IsZero() {
		return bad("ZOOMSYNC_REDIS_SENTINEL_PASSWORD", "is required with ZOOMSYNC_REDIS_SENTINEL_USERNAME (or ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE)")
	}
	if !s.URL.IsZero() {
		rediss := strings.HasPrefix(r.RedisURL, "rediss://")
		if t.Enabled && !rediss {
			return bad("ZOOMSYNC_REDIS_TLS", "is true but ZOOMSYNC_REDIS_URL is redis:// (plain text): use a rediss:// URL for TLS")
		}
		t.Enabled = rediss
	}
	if !t.Enabled {
		for _, v := range set {
			if v.on && strings.HasPrefix(v.name, "ZOOMSYNC_REDIS_TLS_") {
				return bad(v.name, "needs TLS: set ZOOMSYNC_REDIS_TLS=true, or use a rediss:// URL")
			}
		}
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		return bad("ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY", "cannot be used with ZOOMSYNC_REDIS_TLS_CA_FILE: verify with the CA, or not at all")
	}
	if _, err := t.Config(); err != nil {
		var ve *redisconn.VarError
		if errors.As(err, &ve) {
			return bad(ve.Var, "%s", ve.Msg)
		}
		return bad("ZOOMSYNC_REDIS_TLS", "%v", err)
	}
	s.TLS = t
	return nil
}

// secretOrFile is a secret from its variable or from the file its _FILE
// variable names (a mounted secret; read now, one trailing newline
// dropped), never both.
func secretOrFile(name, value, path string) (secret.Secret, error) {
	switch {
	case path == "":
		return secret.New(value), nil
	case value != "":
		return secret.Secret{}, bad(name+"_FILE", "set either %s or %s_FILE, not both", name, name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Secret{}, bad(name+"_FILE", "cannot read %s: %v", path, unwrapPathError(err))
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return secret.Secret{}, bad(name+"_FILE", "%s is empty", path)
	}
	return secret.New(v), nil
}

func parseZoom(r *raw, c *Config) error {
	for name, v := range map[string]string{"ZOOM_API_BASE_URL": r.ZoomAPIBaseURL, "ZOOM_OAUTH_TOKEN_URL": r.ZoomTokenURL} {
		if name == "ZOOM_API_BASE_URL" && v == "" {
			continue // unset: the token's api_url, else the default host
		}
		if !isHTTPURL(v) {
			return bad(name, "must be an absolute http(s) URL, got %q", v)
		}
	}
	// Parse the plan alone first so that a bad plan is blamed on its own
	// variable and not on the overrides.
	if _, err := zoomapi.ParseRateLimits(r.ZoomPlan, ""); err != nil {
		return bad("ZOOMSYNC_ZOOM_PLAN", "%v", err)
	}
	limits, err := zoomapi.ParseRateLimits(r.ZoomPlan, r.ZoomRateLimits)
	if err != nil {
		return bad("ZOOMSYNC_ZOOM_RATE_LIMITS", "%v", err)
	}
	c.Zoom = Zoom{APIBaseURL: r.ZoomAPIBaseURL, TokenURL: r.ZoomTokenURL, Plan: strings.ToLower(r.ZoomPlan), RateLimits: limits}

	if r.ZoomAccountID != "" || r.ZoomClientID != "" || r.ZoomClientSecret != "" || r.ZoomWebhookSecret != "" || r.ZoomWebhookNext != "" {
		for name, v := range map[string]string{"ZOOM_ACCOUNT_ID": r.ZoomAccountID, "ZOOM_CLIENT_ID": r.ZoomClientID, "ZOOM_CLIENT_SECRET": r.ZoomClientSecret} {
			if v == "" {
				return bad(name, "is required when any of ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, ZOOM_WEBHOOK_SECRET_TOKEN is set")
			}
		}
		if r.ZoomWebhookNext != "" && r.ZoomWebhookSecret == "" {
			return bad("ZOOM_WEBHOOK_SECRET_TOKEN_NEXT", "needs ZOOM_WEBHOOK_SECRET_TOKEN (the secret in use; the next one is added beside it during a rotation)")
		}
		c.Zoom.envAccount = &Account{ID: r.ZoomAccountID, ClientID: r.ZoomClientID, ClientSecret: secret.New(r.ZoomClientSecret),
			WebhookSecret: secret.New(r.ZoomWebhookSecret), WebhookNext: secret.New(r.ZoomWebhookNext),
			WebSocketSubscriptionID: strings.TrimSpace(r.ZoomWebSocketSubscription), WebSocketURL: strings.TrimSpace(r.ZoomWebSocketURL)}
		if err := checkWebSocket(c.Zoom.envAccount); err != nil {
			return bad("ZOOM_WEBSOCKET_URL", "%v", err)
		}
	} else if r.ZoomWebSocketURL != "" || r.ZoomWebSocketSubscription != "" {
		return bad("ZOOM_WEBSOCKET_SUBSCRIPTION_ID", "needs ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET (the subscription belongs to that account's app)")
	}
	c.Zoom.AccountsFile = r.AccountsFile
	accounts, err := loadAccounts(r.AccountsFile, c.Zoom.envAccount)
	if err != nil {
		return err
	}
	c.Zoom.Accounts = accounts
	return nil
}

// loadAccounts is the accounts file's entries (none without a file) plus
// the ZOOM_* account, each account id once.
func loadAccounts(file string, env *Account) ([]Account, error) {
	var accounts []Account
	if file != "" {
		var err error
		if accounts, err = readAccountsFile(file); err != nil {
			return nil, bad("ZOOMSYNC_ACCOUNTS_FILE", "%v", err)
		}
	}
	if env != nil {
		accounts = append(accounts, *env)
	}
	seen := map[string]bool{}
	for _, a := range accounts {
		if seen[a.ID] {
			name := "ZOOMSYNC_ACCOUNTS_FILE"
			if env != nil && a.ID == env.ID {
				name = "ZOOM_ACCOUNT_ID"
			}
			return nil, bad(name, "account %q is configured twice", a.ID)
		}
		seen[a.ID] = true
	}
	if err := uniqueSubscriptions(accounts); err != nil {
		return nil, err
	}
	return accounts, nil
}

func readAccountsFile(path string) ([]Account, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, unwrapPathError(err))
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var accounts []Account
	if err := dec.Decode(&accounts); err != nil {
		err = redactJSONError(err)
		return nil, fmt.Errorf("%s: want a JSON array of {account_id, client_id, client_secret, webhook_secret_token, webhook_secret_token_next?, name?, api_base_url?, websocket_subscription_id?, websocket_url?}: %v", path, err)
	}
	if len(accounts) == 0 {
		return nil, fmt.Errorf("%s: no accounts", path)
	}
	for i, a := range accounts {
		switch {
		case a.ID == "":
			return nil, fmt.Errorf("entry %d: account_id is required", i+1)
		case a.ClientID == "":
			return nil, fmt.Errorf("entry %d (%s): client_id is required", i+1, a.ID)
		case a.ClientSecret.IsZero():
			return nil, fmt.Errorf("entry %d (%s): client_secret is required", i+1, a.ID)
		case a.APIBaseURL != "" && !isHTTPURL(a.APIBaseURL):
			return nil, fmt.Errorf("entry %d (%s): api_base_url must be an absolute http(s) URL such as https://api-eu.zoom.us/v2, got %q", i+1, a.ID, a.APIBaseURL)
		case !a.WebhookNext.IsZero() && a.WebhookSecret.IsZero():
			return nil, fmt.Errorf("entry %d (%s): webhook_secret_token_next needs webhook_secret_token (the secret in use; the next one is added beside it during a rotation)", i+1, a.ID)
		}
		if err := checkWebSocket(&accounts[i]); err != nil {
			return nil, fmt.Errorf("entry %d (%s): %v", i+1, a.ID, err)
		}
	}
	return accounts, nil
}

// isHTTPURL reports whether v is an absolute http(s) URL with a host and
// no user, query or fragment.
func isHTTPURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && u.RawQuery == "" && u.Fragment == ""
}

// redactJSONError keeps a decoding error's position and drop its quote of
// the input: encoding/json names the offending character, which may be
// the first one of a secret written without its quotes.
func redactJSONError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON (at byte %d)", se.Offset)
	}
	return err
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func parseLDAP(r *raw, c *Config) error {
	l := LDAP{URL: r.LDAPURL, CAFile: r.LDAPCAFile, BindDN: r.LDAPBindDN, BindPassword: secret.New(r.LDAPBindPassword),
		BaseDN: r.LDAPBaseDN, UserFilter: r.LDAPUserFilter, GroupDN: strings.TrimSpace(r.LDAPGroupDN)}
	var err error
	if l.StartTLS, err = parseBool("LDAP_START_TLS", r.LDAPStartTLS); err != nil {
		return err
	}
	if l.InsecureSkipVerify, err = parseBool("LDAP_INSECURE_SKIP_VERIFY", r.LDAPInsecureSkipVerify); err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.LDAPPageSize))
	if err != nil || n < 1 || n > 10000 {
		return bad("LDAP_PAGE_SIZE", "must be a whole number from 1 to 10000, got %q", r.LDAPPageSize)
	}
	l.PageSize = n
	if l.Refresh, err = time.ParseDuration(strings.TrimSpace(r.DirectoryRefresh)); err != nil || l.Refresh < time.Minute {
		return bad("ZOOMSYNC_DIRECTORY_REFRESH", "must be a duration of at least 1m (e.g. 15m), got %q", r.DirectoryRefresh)
	}
	if l.URL == "" {
		c.LDAP = l
		return nil
	}
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return bad("LDAP_URL", "must be ldap://host[:port] or ldaps://host[:port], got %q", l.URL)
	}
	if l.StartTLS && u.Scheme == "ldaps" {
		return bad("LDAP_START_TLS", "cannot be used with an ldaps:// URL (the connection is already TLS)")
	}
	if l.CAFile != "" {
		pem, err := os.ReadFile(l.CAFile)
		if err != nil {
			return bad("LDAP_CA_FILE", "cannot read %s: %v", l.CAFile, unwrapPathError(err))
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return bad("LDAP_CA_FILE", "%s holds no PEM certificate", l.CAFile)
		}
	}
	if l.BindDN != "" && l.BindPassword.IsZero() {
		return bad("LDAP_BIND_PASSWORD", "is required with LDAP_BIND_DN")
	}
	if l.BaseDN == "" {
		return bad("LDAP_BASE_DN", "is required with LDAP_URL")
	}
	if !strings.HasPrefix(l.UserFilter, "(") || !strings.HasSuffix(l.UserFilter, ")") {
		return bad("LDAP_USER_FILTER", "must be an LDAP filter in parentheses, got %q", l.UserFilter)
	}
	if l.GroupDN != "" && (!strings.Contains(l.GroupDN, "=") || strings.HasPrefix(l.GroupDN, "(")) {
		return bad("LDAP_GROUP_DN", "must be the distinguished name of a group (e.g. CN=Zoom Users,OU=Groups,DC=example,DC=com), got %q", l.GroupDN)
	}
	c.LDAP = l
	return nil
}

// attributeDescriptor is RFC 4512's descr (keystring) or a numeric OID,
// optionally with options (;lang-en).
var attributeDescriptor = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

func parseMapping(r *raw, c *Config) error {
	var rules []MatchRule
	for _, part := range strings.Split(r.MatchRules, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		zf, attr, ok := strings.Cut(part, "=")
		zf, attr = strings.TrimSpace(zf), strings.TrimSpace(attr)
		if !ok || zf == "" || attr == "" {
			return bad("ZOOMSYNC_MATCH_RULES", "%q: want zoomField=ldapAttribute", part)
		}
		known := false
		for _, f := range ZoomFields {
			known = known || f == zf
		}
		if !known {
			return bad("ZOOMSYNC_MATCH_RULES", "%q: unknown Zoom field %q (want one of %s)", part, zf, strings.Join(ZoomFields, ", "))
		}
		if !attributeDescriptor.MatchString(attr) {
			return bad("ZOOMSYNC_MATCH_RULES", "%q: %q is not an LDAP attribute name", part, attr)
		}
		rules = append(rules, MatchRule{ZoomField: zf, LDAPAttribute: attr})
	}
	if len(rules) == 0 {
		return bad("ZOOMSYNC_MATCH_RULES", "needs at least one rule, e.g. email=mail")
	}
	c.Mapping.Rules = rules
	return nil
}

func parseAPI(r *raw, c *Config) error {
	for _, t := range splitList(r.APITokens) {
		if len(t) < 16 {
			// Do not echo the token: it is a secret even when too short.
			return bad("ZOOMSYNC_API_TOKENS", "every token must be at least 16 characters")
		}
		c.API.Tokens = append(c.API.Tokens, secret.New(t))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(r.APIRate), 64)
	if err != nil || f < 0 {
		return bad("ZOOMSYNC_API_RATE_LIMIT", "must be requests per second per token (0: unlimited), got %q", r.APIRate)
	}
	c.API.RateLimit = f
	return parseStreams(r, c)
}

// maxStreams bounds ZOOMSYNC_STREAM_MAX_CONNECTIONS: each open stream
// holds a connection, a goroutine and a buffer.
const maxStreams = 100_000

func parseStreams(r *raw, c *Config) error {
	n, err := strconv.Atoi(strings.TrimSpace(r.StreamMax))
	if err != nil || n < 0 || n > maxStreams {
		return bad("ZOOMSYNC_STREAM_MAX_CONNECTIONS", "must be a whole number from 0 (no live streams) to %d, got %q", maxStreams, r.StreamMax)
	}
	per, err := strconv.Atoi(strings.TrimSpace(r.StreamToken))
	if err != nil || per < 0 || per > maxStreams {
		return bad("ZOOMSYNC_STREAM_MAX_PER_TOKEN", "must be a whole number from 0 to %d, got %q", maxStreams, r.StreamToken)
	}
	// A token cannot hold more than the process does.
	c.API.StreamMax, c.API.StreamMaxPerToken = n, min(per, n)
	return nil
}

func parseTargets(r *raw, c *Config) error {
	c.Targets.File = r.TargetsFile
	if r.TargetsFile == "" {
		return nil
	}
	b, err := os.ReadFile(r.TargetsFile)
	if err != nil {
		return bad("ZOOMSYNC_TARGETS_FILE", "cannot read %s: %v", r.TargetsFile, unwrapPathError(err))
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(b, &entries); err != nil {
		return bad("ZOOMSYNC_TARGETS_FILE", "%s: want a JSON array of targets: %v", r.TargetsFile, err)
	}
	names := map[string]bool{}
	for i, e := range entries {
		var head struct {
			Name *string `json:"name"`
			Type *string `json:"type"`
		}
		if err := json.Unmarshal(e, &head); err != nil || head.Name == nil || *head.Name == "" || head.Type == nil || *head.Type == "" {
			return bad("ZOOMSYNC_TARGETS_FILE", "entry %d: needs a string \"name\" and \"type\"", i+1)
		}
		if names[*head.Name] {
			return bad("ZOOMSYNC_TARGETS_FILE", "entry %d: target name %q is used twice", i+1, *head.Name)
		}
		names[*head.Name] = true
	}
	for i, e := range entries {
		tc, err := target.ParseConfig(e)
		if err != nil {
			return bad("ZOOMSYNC_TARGETS_FILE", "entry %d: %v", i+1, err)
		}
		c.Targets.Configs = append(c.Targets.Configs, tc)
	}
	c.Targets.Entries = entries
	return nil
}

func parsePresence(r *raw, c *Config) error {
	var err error
	dur := func(name, v string, least time.Duration) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < least {
			return 0, bad(name, "must be a duration of at least %s, got %q", least, v)
		}
		return d, nil
	}
	if c.Presence.MaxAge, err = dur("ZOOMSYNC_PRESENCE_MAX_AGE", r.PresenceMaxAge, time.Minute); err != nil {
		return err
	}
	if c.Presence.CallMax, err = dur("ZOOMSYNC_CALL_MAX_DURATION", r.CallMaxDuration, time.Minute); err != nil {
		return err
	}
	if c.Presence.History, err = dur("ZOOMSYNC_PRESENCE_HISTORY", r.PresenceHistory, time.Hour); err != nil {
		return err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(r.PresenceReadRate), 64)
	if err != nil || f < 0 || f > 100 {
		return bad("ZOOMSYNC_PRESENCE_READS_PER_SECOND", "must be a number from 0 (off) to 100, got %q", r.PresenceReadRate)
	}
	c.Presence.ReadsPerSecond = f
	return nil
}

func parseResync(r *raw, c *Config) error {
	s := strings.Join(strings.Fields(r.ResyncSchedule), " ")
	switch {
	case strings.EqualFold(s, "off"):
		s = ""
	case len(strings.Fields(s)) != 5 || !gronx.IsValid(s):
		return bad("ZOOMSYNC_RESYNC_SCHEDULE", "must be a 5-field cron expression (UTC) or off, got %q", r.ResyncSchedule)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(r.MaxDeleteFraction), 64)
	if err != nil || f < 0 || f > 1 {
		return bad("ZOOMSYNC_MAX_DELETE_FRACTION", "must be a number between 0 and 1, got %q", r.MaxDeleteFraction)
	}
	ttl, err := time.ParseDuration(strings.TrimSpace(r.TombstoneTTL))
	if err != nil {
		return bad("ZOOMSYNC_TOMBSTONE_TTL", "must be a duration such as 168h, got %q", r.TombstoneTTL)
	}
	if ttl < minTombstoneTTL {
		return bad("ZOOMSYNC_TOMBSTONE_TTL", "must be at least %v: Zoom retries a webhook up to 85 minutes after the first attempt, and a retry older than the deletion must not bring the user back", minTombstoneTTL)
	}
	c.Resync = Resync{Schedule: s, MaxDeleteFraction: f, TombstoneTTL: ttl}
	return nil
}

func parseLog(r *raw, c *Config) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(r.LogLevel)); err != nil {
		return bad("ZOOMSYNC_LOG_LEVEL", "must be debug, info, warn or error, got %q", r.LogLevel)
	}
	f := strings.ToLower(strings.TrimSpace(r.LogFormat))
	if f != "json" && f != "text" {
		return bad("ZOOMSYNC_LOG_FORMAT", "must be json or text, got %q", r.LogFormat)
	}
	c.Log = Log{Level: lvl, Format: f}
	return nil
}

func parseBool(name, v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, bad(name, "must be true or false, got %q", v)
	}
	return b, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Variables lists every environment variable zoomsync reads (the
// deployment manifests' test checks theirs against it).
func Variables() []string {
	var out []string
	t := reflect.TypeOf(raw{})
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("env"); tag != "" {
			name, _, _ := strings.Cut(tag, ",")
			out = append(out, name)
		}
	}
	return out
}
