package config

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/zoomapi"
)

func load(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	return Load(context.Background(), envconfig.MapLookuper(env))
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreSPECs(t *testing.T) {
	c, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ZOOMSYNC_HTTP_ADDR", c.HTTP.Addr, ":8080"},
		{"ZOOMSYNC_ADMIN_ADDR", c.HTTP.AdminAddr, "127.0.0.1:8081"},
		{"two listeners", c.HTTP.Shared(), false},
		{"redis embedded", c.Redis.Embedded(), true},
		{"ZOOM_API_BASE_URL unset", c.Zoom.APIBaseURL, ""},
		{"ZOOM_OAUTH_TOKEN_URL", c.Zoom.TokenURL, "https://zoom.us/oauth/token"},
		{"rate limits", c.Zoom.RateLimits, zoomapi.BusinessLimits()},
		{"no accounts", len(c.Zoom.Accounts), 0},
		{"LDAP disabled", c.LDAP.Enabled(), false},
		{"LDAP_USER_FILTER", c.LDAP.UserFilter, "(objectClass=inetOrgPerson)"},
		{"LDAP_PAGE_SIZE", c.LDAP.PageSize, 500},
		{"ZOOMSYNC_MATCH_RULES", fmt.Sprint(c.Mapping.Rules), "[email=mail]"},
		{"no API tokens", len(c.API.Tokens), 0},
		{"ZOOMSYNC_STREAM_MAX_CONNECTIONS", c.API.StreamMax, 500},
		{"ZOOMSYNC_STREAM_MAX_PER_TOKEN", c.API.StreamMaxPerToken, 100},
		{"ZOOMSYNC_RESYNC_SCHEDULE", c.Resync.Schedule, "0 2 * * *"},
		{"ZOOMSYNC_MAX_DELETE_FRACTION", c.Resync.MaxDeleteFraction, 0.05},
		{"ZOOMSYNC_TOMBSTONE_TTL", c.Resync.TombstoneTTL, 168 * time.Hour},
		{"ZOOMSYNC_LOG_LEVEL", c.Log.Level, slog.LevelInfo},
		{"ZOOMSYNC_LOG_FORMAT", c.Log.Format, "json"},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
				t.Fatalf("got %v, want %v", ch.got, ch.want)
			}
		})
	}
}

func TestValidValues(t *testing.T) {
	accounts := writeFile(t, "accounts.json", `[
	  {"account_id":"A1","client_id":"c1","client_secret":"s1","webhook_secret_token":"w1","name":"EMEA"},
	  {"account_id":"A2","client_id":"c2","client_secret":"s2","webhook_secret_token":"w2"}]`)
	targets := writeFile(t, "targets.json", `[{"name":"pbx","type":"webhook","url":"http://x","secret":"s","status_map":{"available":"Available","on_call":"Busy"}}]`)
	tlsFiles, err := testserver.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := load(t, map[string]string{
		"ZOOMSYNC_HTTP_ADDR":           "127.0.0.1:9090",
		"ZOOMSYNC_REDIS_ADDRS":         "10.0.0.1:26379, 10.0.0.2:26379",
		"ZOOMSYNC_REDIS_MASTER_NAME":   "zoomsync",
		"ZOOMSYNC_ACCOUNTS_FILE":       accounts,
		"ZOOM_ACCOUNT_ID":              "A3",
		"ZOOM_CLIENT_ID":               "c3",
		"ZOOM_CLIENT_SECRET":           "s3",
		"ZOOM_WEBHOOK_SECRET_TOKEN":    "w3",
		"ZOOMSYNC_ZOOM_PLAN":           "pro",
		"ZOOMSYNC_ZOOM_RATE_LIMITS":    "phone.medium=3",
		"LDAP_URL":                     "ldap://dc1.example.com:389",
		"LDAP_START_TLS":               "true",
		"LDAP_CA_FILE":                 tlsFiles.CAFile,
		"LDAP_BIND_DN":                 "cn=sync,dc=example,dc=com",
		"LDAP_BIND_PASSWORD":           "pw",
		"LDAP_BASE_DN":                 "dc=example,dc=com",
		"LDAP_GROUP_DN":                " CN=Zoom Users,OU=Groups,DC=example,DC=com ",
		"LDAP_PAGE_SIZE":               "1000",
		"ZOOMSYNC_MATCH_RULES":         "email=mail, email=proxyAddresses,employee_unique_id=employeeNumber,extension=telephoneNumber",
		"ZOOMSYNC_API_TOKENS":          "aaaaaaaaaaaaaaaa1, bbbbbbbbbbbbbbbb2,",
		"ZOOMSYNC_TARGETS_FILE":        targets,
		"ZOOMSYNC_RESYNC_SCHEDULE":     "off",
		"ZOOMSYNC_MAX_DELETE_FRACTION": "0",
		"ZOOMSYNC_TOMBSTONE_TTL":       "2h",
		"ZOOMSYNC_LOG_LEVEL":           "debug",
		"ZOOMSYNC_LOG_FORMAT":          "text",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Zoom.Accounts) != 3 || c.Zoom.Accounts[0].Name != "EMEA" || c.Zoom.Accounts[2].ID != "A3" || c.Zoom.Accounts[1].WebhookSecret.Reveal() != "w2" {
		t.Fatalf("accounts %+v", c.Zoom.Accounts)
	}
	if c.Zoom.RateLimits.Get(zoomapi.FamilyPhone, zoomapi.Medium) != 3 || c.Zoom.RateLimits.Get(zoomapi.FamilyUsers, zoomapi.Medium) != 20 {
		t.Fatalf("limits %v", c.Zoom.RateLimits)
	}
	if len(c.Redis.Addrs) != 2 || len(c.Mapping.Rules) != 4 || c.Mapping.Rules[3].LDAPAttribute != "telephoneNumber" ||
		len(c.API.Tokens) != 2 || len(c.Targets.Entries) != 1 || c.Resync.Enabled() || !c.LDAP.StartTLS || c.Log.Level != slog.LevelDebug ||
		c.LDAP.GroupDN != "CN=Zoom Users,OU=Groups,DC=example,DC=com" {
		t.Fatalf("config %+v", c)
	}
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	accountsDup := writeFile(t, "dup.json", `[{"account_id":"A1","client_id":"c","client_secret":"s"},{"account_id":"A1","client_id":"c","client_secret":"s"}]`)
	accountsMissing := writeFile(t, "missing.json", `[{"account_id":"A1","client_id":"c","client_secret":"s"},{"account_id":"A2","client_id":"c"}]`)
	accountsUnknown := writeFile(t, "unknown.json", `[{"account_id":"A1","client_id":"c","client_secret":"s","secret":"x"}]`)
	accountsOne := writeFile(t, "one.json", `[{"account_id":"A1","client_id":"c","client_secret":"s"}]`)
	accountsBadBase := writeFile(t, "base.json", `[{"account_id":"A1","client_id":"c","client_secret":"s","api_base_url":"api-eu.zoom.us/v2"}]`)
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	targetsDup := writeFile(t, "t.json", `[{"name":"a","type":"webhook"},{"name":"a","type":"webhook"}]`)
	targetsNoType := writeFile(t, "t2.json", `[{"name":"a"}]`)
	targetsBadMap := writeFile(t, "t3.json", `[{"name":"a","type":"webhook","url":"http://x/","secret":"s","status_map":{"lunch":"Away"}}]`)
	ldap := map[string]string{"LDAP_URL": "ldap://h", "LDAP_BASE_DN": "dc=x"}
	with := func(base map[string]string, k, v string) map[string]string {
		m := map[string]string{k: v}
		for bk, bv := range base {
			if _, set := m[bk]; !set {
				m[bk] = bv
			}
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"http addr", map[string]string{"ZOOMSYNC_HTTP_ADDR": "8080"}, "ZOOMSYNC_HTTP_ADDR: must be host:port"},
		{"admin addr", map[string]string{"ZOOMSYNC_ADMIN_ADDR": "localhost"}, "ZOOMSYNC_ADMIN_ADDR: must be host:port"},
		{"redis scheme", map[string]string{"ZOOMSYNC_REDIS_URL": "http://h:6379"}, "ZOOMSYNC_REDIS_URL: must start with redis://"},
		{"redis unparseable", map[string]string{"ZOOMSYNC_REDIS_URL": "redis://h:6379/notadb"}, "ZOOMSYNC_REDIS_URL: is not a valid Redis URL"},
		{"redis both", map[string]string{"ZOOMSYNC_REDIS_URL": "redis://h:6379", "ZOOMSYNC_REDIS_ADDRS": "h:1"}, "ZOOMSYNC_REDIS_URL: set either"},
		{"master without addrs", map[string]string{"ZOOMSYNC_REDIS_MASTER_NAME": "m"}, "ZOOMSYNC_REDIS_MASTER_NAME: needs ZOOMSYNC_REDIS_ADDRS"},
		{"redis addrs", map[string]string{"ZOOMSYNC_REDIS_ADDRS": "h1,h2"}, `ZOOMSYNC_REDIS_ADDRS: "h1" is not host:port`},
		{"single account incomplete", map[string]string{"ZOOM_ACCOUNT_ID": "A", "ZOOM_CLIENT_ID": "c"}, "ZOOM_CLIENT_SECRET: is required"},
		{"webhook secret alone", map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN": "w"}, "is required when any of"},
		{"accounts file missing", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": "/nonexistent.json"}, "ZOOMSYNC_ACCOUNTS_FILE: cannot read /nonexistent.json: no such file"},
		{"accounts duplicate", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": accountsDup}, `ZOOMSYNC_ACCOUNTS_FILE: account "A1" is configured twice`},
		{"accounts entry field", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": accountsMissing}, "ZOOMSYNC_ACCOUNTS_FILE: entry 2 (A2): client_secret is required"},
		{"accounts unknown field", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": accountsUnknown}, `ZOOMSYNC_ACCOUNTS_FILE:`},
		{"file and single duplicate", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": accountsOne, "ZOOM_ACCOUNT_ID": "A1", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s"}, `ZOOM_ACCOUNT_ID: account "A1" is configured twice`},
		{"api base url", map[string]string{"ZOOM_API_BASE_URL": "api.zoom.us/v2"}, "ZOOM_API_BASE_URL: must be an absolute http(s) URL"},
		{"account api base url", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": accountsBadBase}, `ZOOMSYNC_ACCOUNTS_FILE: entry 1 (A1): api_base_url must be an absolute http(s) URL`},
		{"token url", map[string]string{"ZOOM_OAUTH_TOKEN_URL": "ftp://zoom.us"}, "ZOOM_OAUTH_TOKEN_URL: must be an absolute"},
		{"plan", map[string]string{"ZOOMSYNC_ZOOM_PLAN": "gold"}, `ZOOMSYNC_ZOOM_PLAN: unknown plan "gold"`},
		{"rate limits", map[string]string{"ZOOMSYNC_ZOOM_RATE_LIMITS": "medium=-1"}, "ZOOMSYNC_ZOOM_RATE_LIMITS:"},
		{"ldap scheme", map[string]string{"LDAP_URL": "http://dc", "LDAP_BASE_DN": "dc=x"}, "LDAP_URL: must be ldap://"},
		{"starttls with ldaps", with(with(ldap, "LDAP_URL", "ldaps://h"), "LDAP_START_TLS", "true"), "LDAP_START_TLS: cannot be used with an ldaps://"},
		{"starttls bool", with(ldap, "LDAP_START_TLS", "yes please"), `LDAP_START_TLS: must be true or false, got "yes please"`},
		{"skip verify bool", map[string]string{"LDAP_INSECURE_SKIP_VERIFY": "maybe"}, "LDAP_INSECURE_SKIP_VERIFY: must be true or false"},
		{"ca file missing", with(ldap, "LDAP_CA_FILE", "/nope.pem"), "LDAP_CA_FILE: cannot read /nope.pem"},
		{"ca file not pem", with(ldap, "LDAP_CA_FILE", notPEM), "LDAP_CA_FILE: " + notPEM + " holds no PEM certificate"},
		{"page size", map[string]string{"LDAP_PAGE_SIZE": "0"}, `LDAP_PAGE_SIZE: must be a whole number from 1 to 10000, got "0"`},
		{"page size text", map[string]string{"LDAP_PAGE_SIZE": "lots"}, "LDAP_PAGE_SIZE:"},
		{"bind dn without password", with(ldap, "LDAP_BIND_DN", "cn=x"), "LDAP_BIND_PASSWORD: is required with LDAP_BIND_DN"},
		{"base dn", map[string]string{"LDAP_URL": "ldap://h"}, "LDAP_BASE_DN: is required"},
		{"user filter", with(ldap, "LDAP_USER_FILTER", "objectClass=person"), "LDAP_USER_FILTER: must be an LDAP filter"},
		{"group dn is a filter", with(ldap, "LDAP_GROUP_DN", "(memberOf=CN=Zoom Users,DC=x)"), "LDAP_GROUP_DN: must be the distinguished name of a group"},
		{"group dn is a name", with(ldap, "LDAP_GROUP_DN", "Zoom Users"), "LDAP_GROUP_DN: must be the distinguished name"},
		{"match rule shape", map[string]string{"ZOOMSYNC_MATCH_RULES": "email"}, `ZOOMSYNC_MATCH_RULES: "email": want zoomField=ldapAttribute`},
		{"match rule field", map[string]string{"ZOOMSYNC_MATCH_RULES": "phone=mail"}, `unknown Zoom field "phone"`},
		{"match rule attribute", map[string]string{"ZOOMSYNC_MATCH_RULES": "email=ma il"}, `"ma il" is not an LDAP attribute name`},
		{"match rules empty", map[string]string{"ZOOMSYNC_MATCH_RULES": " , "}, "ZOOMSYNC_MATCH_RULES: needs at least one rule"},
		{"api token short", map[string]string{"ZOOMSYNC_API_TOKENS": "short"}, "ZOOMSYNC_API_TOKENS: every token must be at least 16 characters"},
		{"stream max", map[string]string{"ZOOMSYNC_STREAM_MAX_CONNECTIONS": "-1"}, `ZOOMSYNC_STREAM_MAX_CONNECTIONS: must be a whole number from 0`},
		{"stream max text", map[string]string{"ZOOMSYNC_STREAM_MAX_CONNECTIONS": "many"}, `ZOOMSYNC_STREAM_MAX_CONNECTIONS:`},
		{"stream per token", map[string]string{"ZOOMSYNC_STREAM_MAX_PER_TOKEN": "1e9"}, `ZOOMSYNC_STREAM_MAX_PER_TOKEN: must be a whole number from 0`},
		{"targets missing", map[string]string{"ZOOMSYNC_TARGETS_FILE": "/nope.json"}, "ZOOMSYNC_TARGETS_FILE: cannot read"},
		{"targets duplicate", map[string]string{"ZOOMSYNC_TARGETS_FILE": targetsDup}, `ZOOMSYNC_TARGETS_FILE: entry 2: target name "a" is used twice`},
		{"target status map", map[string]string{"ZOOMSYNC_TARGETS_FILE": targetsBadMap}, `ZOOMSYNC_TARGETS_FILE: entry 1: target "a": status_map key "lunch" is not a status`},
		{"presence max age", map[string]string{"ZOOMSYNC_PRESENCE_MAX_AGE": "5s"}, `ZOOMSYNC_PRESENCE_MAX_AGE: must be a duration of at least 1m0s`},
		{"targets no type", map[string]string{"ZOOMSYNC_TARGETS_FILE": targetsNoType}, `ZOOMSYNC_TARGETS_FILE: entry 1: needs a string "name" and "type"`},
		{"schedule", map[string]string{"ZOOMSYNC_RESYNC_SCHEDULE": "nightly"}, `ZOOMSYNC_RESYNC_SCHEDULE: must be a 5-field cron expression (UTC) or off, got "nightly"`},
		{"schedule with seconds", map[string]string{"ZOOMSYNC_RESYNC_SCHEDULE": "0 0 2 * * *"}, "ZOOMSYNC_RESYNC_SCHEDULE:"},
		{"schedule out of range", map[string]string{"ZOOMSYNC_RESYNC_SCHEDULE": "0 25 * * *"}, "ZOOMSYNC_RESYNC_SCHEDULE:"},
		{"delete fraction", map[string]string{"ZOOMSYNC_MAX_DELETE_FRACTION": "1.5"}, `ZOOMSYNC_MAX_DELETE_FRACTION: must be a number between 0 and 1, got "1.5"`},
		{"tombstone ttl", map[string]string{"ZOOMSYNC_TOMBSTONE_TTL": "a week"}, "ZOOMSYNC_TOMBSTONE_TTL: must be a duration"},
		{"tombstone ttl short", map[string]string{"ZOOMSYNC_TOMBSTONE_TTL": "30m"}, "ZOOMSYNC_TOMBSTONE_TTL: must be at least 1h30m0s"},
		{"log level", map[string]string{"ZOOMSYNC_LOG_LEVEL": "verbose"}, "ZOOMSYNC_LOG_LEVEL: must be debug, info, warn or error"},
		{"log format", map[string]string{"ZOOMSYNC_LOG_FORMAT": "xml"}, "ZOOMSYNC_LOG_FORMAT: must be json or text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

// TestSecretsNeverPrint loads every secret variable and prints the config
// every way a log line or a debugging session might.
func TestSecretsNeverPrint(t *testing.T) {
	secrets := map[string]string{
		"ZOOM_CLIENT_SECRET":        "zoom-client-secret-1",
		"ZOOM_WEBHOOK_SECRET_TOKEN": "zoom-webhook-secret-1",
		"LDAP_BIND_PASSWORD":        "ldap-bind-password-1",
		"ZOOMSYNC_API_TOKENS":       "api-token-number-one-1,api-token-number-two-2",
		"ZOOMSYNC_REDIS_URL":        "redis://user:redis-password-1@localhost:6379/0",
	}
	fileSecret, fileWebhook := "file-client-secret-2", "file-webhook-secret-2"
	accounts := writeFile(t, "a.json", `[{"account_id":"F","client_id":"c","client_secret":"`+fileSecret+`","webhook_secret_token":"`+fileWebhook+`"}]`)
	targetSecret, targetUser, targetPass, targetQuery := "target-secret-3", "target-user-3", "target-pass-3", "target-query-3"
	targets := writeFile(t, "t.json", `[{"name":"pbx","type":"webhook","url":"https://`+targetUser+`:`+targetPass+`@h/p?k=`+targetQuery+`",
		"secret":"`+targetSecret+`","status_map":{"available":"A"}}]`)
	env := map[string]string{"ZOOM_ACCOUNT_ID": "A", "ZOOM_CLIENT_ID": "c", "LDAP_URL": "ldap://h", "LDAP_BASE_DN": "dc=x",
		"LDAP_BIND_DN": "cn=sync", "ZOOMSYNC_ACCOUNTS_FILE": accounts, "ZOOMSYNC_TARGETS_FILE": targets}
	for k, v := range secrets {
		env[k] = v
	}
	c, err := load(t, env)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf strings.Builder
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("config", "config", c, "accounts", c.Zoom.Accounts)
	jsonBytes, _ := json.Marshal(c)
	printed := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", *c), "%#v": fmt.Sprintf("%#v", *c),
		"String": c.String(), "json": string(jsonBytes), "slog": logBuf.String(),
	}
	leaks := []string{"zoom-client-secret-1", "zoom-webhook-secret-1", "ldap-bind-password-1", "api-token-number-one-1",
		"api-token-number-two-2", "redis-password-1", fileSecret, fileWebhook, targetSecret, targetUser, targetPass, targetQuery}
	for how, out := range printed {
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("%s printing leaks %q:\n%s", how, leak, out)
			}
		}
	}
	if !strings.Contains(c.String(), "redis://user:xxxxx@localhost:6379/0") {
		t.Errorf("redacted Redis URL not shown: %s", c)
	}
	if c.Zoom.Accounts[1].ClientSecret.Reveal() != "zoom-client-secret-1" {
		t.Error("the secret itself must still be usable")
	}
}

func TestLoggerFormats(t *testing.T) {
	var b strings.Builder
	Log{Level: slog.LevelWarn, Format: "text"}.Logger(&b).Info("hidden")
	Log{Level: slog.LevelWarn, Format: "text"}.Logger(&b).Warn("shown")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), "msg=shown") {
		t.Fatalf("text logger: %q", b.String())
	}
	b.Reset()
	Log{Level: slog.LevelInfo, Format: "json"}.Logger(&b).Info("x")
	if !strings.HasPrefix(b.String(), "{") {
		t.Fatalf("json logger: %q", b.String())
	}
}

// TestAPIBaseURLRungs: an account's api_base_url, else ZOOM_API_BASE_URL
// when set, else nothing (the client then follows the token's api_url,
// else the default host; zoomapi's TestAPIHostRungs covers those rungs).
func TestAPIBaseURLRungs(t *testing.T) {
	accounts := writeFile(t, "rungs.json", `[
		{"account_id":"EU","client_id":"c","client_secret":"s","api_base_url":"https://api-eu.zoom.us/v2"},
		{"account_id":"PLAIN","client_id":"c","client_secret":"s"}]`)
	cases := []struct {
		name      string
		env       map[string]string
		eu, plain string
	}{
		{"nothing set", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": accounts}, "https://api-eu.zoom.us/v2", ""},
		{"ZOOM_API_BASE_URL set", map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": accounts, "ZOOM_API_BASE_URL": "https://api.zoom.us/v2"},
			"https://api-eu.zoom.us/v2", "https://api.zoom.us/v2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, a := range c.Zoom.Accounts {
				got[a.ID] = c.Zoom.APIBaseURLFor(a)
			}
			if got["EU"] != tc.eu || got["PLAIN"] != tc.plain {
				t.Fatalf("EU %q, PLAIN %q; want %q, %q", got["EU"], got["PLAIN"], tc.eu, tc.plain)
			}
		})
	}
}

// TestRedisCredentialsAndTLS: the Redis credentials and TLS variables, and
// where each comes from.
func TestRedisCredentialsAndTLS(t *testing.T) {
	certs, err := testserver.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pwFile := writeFile(t, "pw", "file-password\n")
	crlfFile := writeFile(t, "pw-crlf", "crlf-password\r\n")
	sentinelFile := writeFile(t, "spw", "sentinel-file-password")
	tests := []struct {
		name  string
		env   map[string]string
		check func(r Redis) bool
	}{
		{"URL with credentials", map[string]string{"ZOOMSYNC_REDIS_URL": "rediss://app:pw@redis.example.com:6380/0"},
			func(r Redis) bool { return r.TLS.Enabled && r.URLHasCredentials() && r.Username == "" }},
		{"URL and variables", map[string]string{"ZOOMSYNC_REDIS_URL": "rediss://redis.example.com:6380/0", "ZOOMSYNC_REDIS_USERNAME": "app",
			"ZOOMSYNC_REDIS_PASSWORD": "pw", "ZOOMSYNC_REDIS_TLS_CA_FILE": certs.CAFile, "ZOOMSYNC_REDIS_TLS_CERT_FILE": certs.ClientCertFile,
			"ZOOMSYNC_REDIS_TLS_KEY_FILE": certs.ClientKeyFile, "ZOOMSYNC_REDIS_TLS_SERVER_NAME": "redis.internal"},
			func(r Redis) bool {
				return r.TLS.Enabled && r.Username == "app" && r.Password.Reveal() == "pw" && r.TLS.CAFile == certs.CAFile &&
					r.TLS.CertFile != "" && r.TLS.ServerName == "redis.internal"
			}},
		{"TLS=true agrees with rediss://", map[string]string{"ZOOMSYNC_REDIS_URL": "rediss://h:6380", "ZOOMSYNC_REDIS_TLS": "true"},
			func(r Redis) bool { return r.TLS.Enabled }},
		{"password file, newline dropped", map[string]string{"ZOOMSYNC_REDIS_URL": "redis://h:6379", "ZOOMSYNC_REDIS_PASSWORD_FILE": pwFile},
			func(r Redis) bool { return r.Password.Reveal() == "file-password" && !r.TLS.Enabled }},
		{"password file, CRLF dropped", map[string]string{"ZOOMSYNC_REDIS_URL": "redis://h:6379", "ZOOMSYNC_REDIS_PASSWORD_FILE": crlfFile},
			func(r Redis) bool { return r.Password.Reveal() == "crlf-password" }},
		{"cluster with TLS", map[string]string{"ZOOMSYNC_REDIS_ADDRS": "a:6379,b:6379", "ZOOMSYNC_REDIS_TLS": "true", "ZOOMSYNC_REDIS_PASSWORD": "pw"},
			func(r Redis) bool { return r.TLS.Enabled && r.Topology() == "cluster" && r.Password.Reveal() == "pw" }},
		{"sentinel credentials", map[string]string{"ZOOMSYNC_REDIS_ADDRS": "s1:26379", "ZOOMSYNC_REDIS_MASTER_NAME": "m",
			"ZOOMSYNC_REDIS_SENTINEL_USERNAME": "sent", "ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE": sentinelFile},
			func(r Redis) bool {
				return r.SentinelUsername == "sent" && r.SentinelPassword.Reveal() == "sentinel-file-password" && r.Topology() == "sentinel"
			}},
		{"insecure skip verify", map[string]string{"ZOOMSYNC_REDIS_ADDRS": "a:6379", "ZOOMSYNC_REDIS_TLS": "true", "ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY": "true"},
			func(r Redis) bool { return r.InsecureTLS() }},
		{"skip_verify in the URL", map[string]string{"ZOOMSYNC_REDIS_URL": "rediss://h:6380?skip_verify=true"},
			func(r Redis) bool { return r.InsecureTLS() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c.Redis) {
				t.Fatalf("%+v", c.Redis)
			}
		})
	}
}

func TestInvalidRedisSettingsNameTheVariable(t *testing.T) {
	certs, err := testserver.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testserver.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	notPEM := writeFile(t, "ca.pem", "not a certificate")
	empty := writeFile(t, "empty", "\n")
	unreadable := filepath.Join(t.TempDir(), "nope")
	url := map[string]string{"ZOOMSYNC_REDIS_URL": "redis://h:6379"}
	tlsURL := map[string]string{"ZOOMSYNC_REDIS_URL": "rediss://h:6380"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"password and its file", with(url, "ZOOMSYNC_REDIS_PASSWORD", "pw", "ZOOMSYNC_REDIS_PASSWORD_FILE", empty),
			"ZOOMSYNC_REDIS_PASSWORD_FILE: set either ZOOMSYNC_REDIS_PASSWORD or ZOOMSYNC_REDIS_PASSWORD_FILE, not both"},
		{"password file missing", with(url, "ZOOMSYNC_REDIS_PASSWORD_FILE", unreadable), "ZOOMSYNC_REDIS_PASSWORD_FILE: cannot read " + unreadable + ": no such file"},
		{"password file empty", with(url, "ZOOMSYNC_REDIS_PASSWORD_FILE", empty), "ZOOMSYNC_REDIS_PASSWORD_FILE: " + empty + " is empty"},
		{"sentinel password file missing", with(map[string]string{"ZOOMSYNC_REDIS_ADDRS": "s:1", "ZOOMSYNC_REDIS_MASTER_NAME": "m"},
			"ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE", unreadable), "ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE: cannot read"},
		{"password in URL and variable", with(map[string]string{"ZOOMSYNC_REDIS_URL": "redis://:urlpw@h:6379"}, "ZOOMSYNC_REDIS_PASSWORD", "pw"),
			"ZOOMSYNC_REDIS_PASSWORD: ZOOMSYNC_REDIS_URL already carries credentials: set them in one place, not both"},
		{"password in URL and file", with(map[string]string{"ZOOMSYNC_REDIS_URL": "redis://:urlpw@h:6379"}, "ZOOMSYNC_REDIS_PASSWORD_FILE", writeFile(t, "p", "pw")),
			"ZOOMSYNC_REDIS_PASSWORD_FILE: ZOOMSYNC_REDIS_URL already carries credentials"},
		{"user in URL and variable", with(map[string]string{"ZOOMSYNC_REDIS_URL": "redis://app:urlpw@h:6379"}, "ZOOMSYNC_REDIS_USERNAME", "app"),
			"ZOOMSYNC_REDIS_USERNAME: ZOOMSYNC_REDIS_URL already carries credentials"},
		{"user without password", with(url, "ZOOMSYNC_REDIS_USERNAME", "app"), "ZOOMSYNC_REDIS_PASSWORD: is required with ZOOMSYNC_REDIS_USERNAME"},
		{"sentinel password without sentinel", with(map[string]string{"ZOOMSYNC_REDIS_ADDRS": "a:1"}, "ZOOMSYNC_REDIS_SENTINEL_PASSWORD", "pw"),
			"ZOOMSYNC_REDIS_SENTINEL_PASSWORD: applies to Sentinels only"},
		{"sentinel user without password", with(map[string]string{"ZOOMSYNC_REDIS_ADDRS": "s:1", "ZOOMSYNC_REDIS_MASTER_NAME": "m"},
			"ZOOMSYNC_REDIS_SENTINEL_USERNAME", "u"), "ZOOMSYNC_REDIS_SENTINEL_PASSWORD: is required with ZOOMSYNC_REDIS_SENTINEL_USERNAME"},
		{"TLS with a redis:// URL", with(url, "ZOOMSYNC_REDIS_TLS", "true"), "ZOOMSYNC_REDIS_TLS: is true but ZOOMSYNC_REDIS_URL is redis://"},
		{"TLS not a bool", with(url, "ZOOMSYNC_REDIS_TLS", "on please"), `ZOOMSYNC_REDIS_TLS: must be true or false, got "on please"`},
		{"CA without TLS", with(url, "ZOOMSYNC_REDIS_TLS_CA_FILE", certs.CAFile), "ZOOMSYNC_REDIS_TLS_CA_FILE: needs TLS: set ZOOMSYNC_REDIS_TLS=true, or use a rediss:// URL"},
		{"server name without TLS", map[string]string{"ZOOMSYNC_REDIS_ADDRS": "a:1", "ZOOMSYNC_REDIS_TLS_SERVER_NAME": "r"}, "ZOOMSYNC_REDIS_TLS_SERVER_NAME: needs TLS"},
		{"CA unreadable", with(tlsURL, "ZOOMSYNC_REDIS_TLS_CA_FILE", unreadable), "ZOOMSYNC_REDIS_TLS_CA_FILE: cannot read " + unreadable + ": no such file"},
		{"CA not PEM", with(tlsURL, "ZOOMSYNC_REDIS_TLS_CA_FILE", notPEM), "ZOOMSYNC_REDIS_TLS_CA_FILE: " + notPEM + " holds no PEM certificate"},
		{"cert without key", with(tlsURL, "ZOOMSYNC_REDIS_TLS_CERT_FILE", certs.ClientCertFile), "ZOOMSYNC_REDIS_TLS_KEY_FILE: is required with ZOOMSYNC_REDIS_TLS_CERT_FILE"},
		{"key without cert", with(tlsURL, "ZOOMSYNC_REDIS_TLS_KEY_FILE", certs.ClientKeyFile), "ZOOMSYNC_REDIS_TLS_CERT_FILE: is required with ZOOMSYNC_REDIS_TLS_KEY_FILE"},
		{"key unreadable", with(tlsURL, "ZOOMSYNC_REDIS_TLS_CERT_FILE", certs.ClientCertFile, "ZOOMSYNC_REDIS_TLS_KEY_FILE", unreadable),
			"ZOOMSYNC_REDIS_TLS_KEY_FILE: cannot read " + unreadable},
		{"cert and key do not match", with(tlsURL, "ZOOMSYNC_REDIS_TLS_CERT_FILE", certs.ClientCertFile, "ZOOMSYNC_REDIS_TLS_KEY_FILE", other.ClientKeyFile),
			"ZOOMSYNC_REDIS_TLS_CERT_FILE: cannot use " + certs.ClientCertFile + " with ZOOMSYNC_REDIS_TLS_KEY_FILE: private key does not match public key"},
		{"skip verify and a CA", with(tlsURL, "ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY", "true", "ZOOMSYNC_REDIS_TLS_CA_FILE", certs.CAFile),
			"ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY: cannot be used with ZOOMSYNC_REDIS_TLS_CA_FILE"},
		{"password with the embedded Redis", map[string]string{"ZOOMSYNC_REDIS_PASSWORD": "pw"},
			"ZOOMSYNC_REDIS_PASSWORD: needs ZOOMSYNC_REDIS_URL or ZOOMSYNC_REDIS_ADDRS (the embedded Redis takes no credentials or TLS)"},
		{"TLS with the embedded Redis", map[string]string{"ZOOMSYNC_REDIS_TLS": "true"}, "ZOOMSYNC_REDIS_TLS: needs ZOOMSYNC_REDIS_URL or ZOOMSYNC_REDIS_ADDRS"},
		{"CA with the embedded Redis", map[string]string{"ZOOMSYNC_REDIS_TLS_CA_FILE": certs.CAFile}, "ZOOMSYNC_REDIS_TLS_CA_FILE: needs ZOOMSYNC_REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

// TestRedisPasswordsNeverPrint: the Redis passwords, from variables,
// files and URLs, in every printed form of the configuration and in the
// errors of URLs that do not parse.
func TestRedisPasswordsNeverPrint(t *testing.T) {
	file := writeFile(t, "pw", "redis-file-password-3\n")
	c, err := load(t, map[string]string{"ZOOMSYNC_REDIS_ADDRS": "s:26379", "ZOOMSYNC_REDIS_MASTER_NAME": "m", "ZOOMSYNC_REDIS_USERNAME": "app",
		"ZOOMSYNC_REDIS_PASSWORD_FILE": file, "ZOOMSYNC_REDIS_SENTINEL_PASSWORD": "redis-sentinel-password-4"})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf strings.Builder
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "config", c, "redis", c.Redis)
	jsonBytes, _ := json.Marshal(c)
	printed := []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), c.String(), string(jsonBytes), logBuf.String()}
	for _, bad := range []string{"redis://:redis-url-password-5@h:notaport", "redis://u:redis-url-password-5@h:6379/notadb",
		"redis://u:redis-url-password-5@h:6379/0?nosuch=1", "rediss://u:redis-url-password-5@[::1"} {
		_, err := load(t, map[string]string{"ZOOMSYNC_REDIS_URL": bad})
		if err == nil {
			t.Fatalf("%s loaded", bad)
		}
		printed = append(printed, err.Error())
	}
	for _, out := range printed {
		for _, leak := range []string{"redis-file-password-3", "redis-sentinel-password-4", "redis-url-password-5"} {
			if strings.Contains(out, leak) {
				t.Errorf("leaks %q:\n%s", leak, out)
			}
		}
	}
	if !strings.Contains(c.String(), "redis_user=app") {
		t.Errorf("the summary should name the Redis user: %s", c)
	}
}

// TestStreamCapPerTokenIsAtMostTheProcessCap: a per-token cap above the
// process's cap means the process's.
func TestStreamCapPerTokenIsAtMostTheProcessCap(t *testing.T) {
	c, err := load(t, map[string]string{"ZOOMSYNC_STREAM_MAX_CONNECTIONS": "20", "ZOOMSYNC_STREAM_MAX_PER_TOKEN": "100"})
	if err != nil {
		t.Fatal(err)
	}
	if c.API.StreamMax != 20 || c.API.StreamMaxPerToken != 20 {
		t.Fatalf("caps %d / %d, want 20 / 20", c.API.StreamMax, c.API.StreamMaxPerToken)
	}
}
