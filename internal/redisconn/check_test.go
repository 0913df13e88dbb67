package redisconn_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

func secure(t *testing.T) *testserver.Security {
	return testserver.NewSecurity(t, redisconn.ACLRules(), redisconn.SentinelACLRules())
}

func check(ctx context.Context, s redisconn.Settings) error {
	rdb, err := redisconn.Open(s, redisconn.Options{})
	if err != nil {
		return err
	}
	defer rdb.Close()
	return redisconn.Check(ctx, rdb, s)
}

func without(rules []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(rules), func(r string) bool { return slices.Contains(drop, r) })
}

// addUser creates an ACL user through an admin connection.
func addUser(t *testing.T, c *redis.Client, name, password string, rules []string) {
	t.Helper()
	args := append([]any{"ACL", "SETUSER", name, "reset", "on", ">" + password}, toAny(rules)...)
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		t.Fatal(err)
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestCheck: the ACL user with exactly ACLRules, over TLS, passes on a
// server, a Cluster and behind Sentinels (whose own ACL user has exactly
// SentinelACLRules), with credentials in the variables or the URL. Each
// way a secured Redis refuses zoomsync gives one line naming what failed
// and the variable to check, never a password.
func TestCheck(t *testing.T) {
	sec := secure(t)
	other, err := testserver.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{Security: sec})
	plain := testserver.StartRedis(t, testserver.RedisOptions{})
	strict := *sec
	strict.AuthClients = "yes"
	certRequired := testserver.StartRedis(t, testserver.RedisOptions{Security: &strict})
	cluster := testserver.StartClusterWith(t, testserver.ClusterOptions{Security: sec})
	sentinel := testserver.StartSentinelWith(t, testserver.SentinelOptions{Security: sec})

	limitedRules := without(redisconn.ACLRules(), "+xadd", "+evalsha", "~"+redisconn.KeyPattern)
	addUser(t, r.Client(), "limited", "limited-password-1", limitedRules)
	for _, n := range cluster.Nodes {
		addUser(t, n.Client(), "limited", "limited-password-1", without(redisconn.ACLRules(), "+subscribe", "&"+redisconn.ChannelPattern))
	}
	for _, sp := range sentinel.Sentinels {
		c := redis.NewClient(&redis.Options{Addr: sp.Addr, Password: sec.SentinelPassword, TLSConfig: sec.ClientTLS()})
		addUser(t, c, "limited", "limited-password-2", without(redisconn.SentinelACLRules(), "+sentinel|sentinels"))
		c.Close()
	}
	passwords := []string{sec.AdminPassword, sec.UserPassword, sec.SentinelPassword, sec.SentinelUserPassword, "limited-password-1",
		"limited-password-2", "wrong-password-1"}

	edit := func(base func() redisconn.Settings, f func(*redisconn.Settings)) func() redisconn.Settings {
		return func() redisconn.Settings { s := base(); f(&s); return s }
	}
	plainURL := func(s *redisconn.Settings) {
		s.TLS = redisconn.TLS{}
		s.URL = secret.New(strings.Replace(s.URL.Reveal(), "rediss:", "redis:", 1))
	}
	urlCreds := func(s *redisconn.Settings) {
		s.URL = secret.New("rediss://" + sec.User + ":" + sec.UserPassword + "@" + r.Addr + "/0")
		s.Username, s.Password = "", secret.Secret{}
	}
	tests := []struct {
		name  string
		st    func() redisconn.Settings
		kind  errs.Kind
		wants []string // nil: passes
	}{
		{"server", r.Settings, 0, nil},
		{"server, credentials in the URL", edit(r.Settings, urlCreds), 0, nil},
		{"cluster", cluster.Settings, 0, nil},
		{"sentinel", sentinel.Settings, 0, nil},
		{"wrong password", edit(r.Settings, func(s *redisconn.Settings) { s.Password = secret.New("wrong-password-1") }), errs.Invalid,
			[]string{"Redis at " + r.Addr + ` refused the credentials of user "zoomsync" (WRONGPASS`, "check ZOOMSYNC_REDIS_USERNAME and ZOOMSYNC_REDIS_PASSWORD"}},
		{"wrong password in the URL", edit(r.Settings, func(s *redisconn.Settings) {
			s.URL = secret.New("rediss://zoomsync:wrong-password-1@" + r.Addr)
			s.Username, s.Password = "", secret.Secret{}
		}), errs.Invalid, []string{"refused the credentials", "check the user and password in ZOOMSYNC_REDIS_URL"}},
		{"no password", edit(r.Settings, func(s *redisconn.Settings) { s.Username, s.Password = "", secret.Secret{} }), errs.Invalid,
			[]string{"requires a password (NOAUTH", "set ZOOMSYNC_REDIS_PASSWORD"}},
		{"missing ACL permissions", edit(r.Settings, func(s *redisconn.Settings) {
			s.Username, s.Password = "limited", secret.New("limited-password-1")
		}), errs.Invalid, []string{`user "limited" may not run evalsha, xadd; may not use keys zs:* (NOPERM)`, `grant the ACL in docs/OPERATIONS.md ("Redis ACL")`}},
		{"missing ACL permissions on Cluster masters", edit(cluster.Settings, func(s *redisconn.Settings) {
			s.Username, s.Password = "limited", secret.New("limited-password-1")
		}), errs.Invalid, []string{"Redis Cluster (", `user "limited" may not run subscribe; may not use channels zs:*`}},
		{"untrusted CA", edit(r.Settings, func(s *redisconn.Settings) { s.TLS.CAFile = other.CAFile }), errs.Invalid,
			[]string{"presented a certificate this host does not trust", "set ZOOMSYNC_REDIS_TLS_CA_FILE to the CA that signed it"}},
		{"private CA not given", edit(r.Settings, func(s *redisconn.Settings) { s.TLS.CAFile = "" }), errs.Invalid,
			[]string{"x509: certificate signed by unknown authority", "ZOOMSYNC_REDIS_TLS_CA_FILE"}},
		{"name not in the certificate", edit(r.Settings, func(s *redisconn.Settings) { s.TLS.ServerName = "redis.example.com" }), errs.Invalid,
			[]string{`not valid for "redis.example.com"`, "set ZOOMSYNC_REDIS_TLS_SERVER_NAME"}},
		{"client certificate required", edit(certRequired.Settings, func(s *redisconn.Settings) { s.TLS.CertFile, s.TLS.KeyFile = "", "" }), errs.Invalid,
			[]string{"requires a client certificate", "set ZOOMSYNC_REDIS_TLS_CERT_FILE and ZOOMSYNC_REDIS_TLS_KEY_FILE"}},
		{"client certificate from another CA", edit(certRequired.Settings, func(s *redisconn.Settings) {
			s.TLS.CertFile, s.TLS.KeyFile = other.ClientCertFile, other.ClientKeyFile
		}), errs.Invalid, []string{"refused the TLS handshake", "ZOOMSYNC_REDIS_TLS_CERT_FILE"}},
		{"plain text to a TLS port", edit(r.Settings, plainURL), errs.Invalid,
			[]string{"closed the connection during the handshake", "set ZOOMSYNC_REDIS_TLS=true (or use a rediss:// URL)"}},
		{"plain text to a TLS Cluster", edit(cluster.Settings, func(s *redisconn.Settings) { s.TLS = redisconn.TLS{} }), errs.Invalid,
			[]string{"Redis Cluster (", "closed the connection during the handshake"}},
		{"TLS to a plain-text port", edit(plain.Settings, func(s *redisconn.Settings) { s.TLS = redisconn.TLS{Enabled: true} }), errs.Invalid,
			[]string{"Redis at " + plain.Addr + " answers in plain text, not TLS", "turn ZOOMSYNC_REDIS_TLS off"}},
		{"wrong Sentinel password", edit(sentinel.Settings, func(s *redisconn.Settings) { s.SentinelPassword = secret.New("wrong-password-1") }), errs.Invalid,
			[]string{"Sentinel 127.0.0.1:", `refused the credentials of user "zoomsync-sentinel"`, "check ZOOMSYNC_REDIS_SENTINEL_USERNAME and ZOOMSYNC_REDIS_SENTINEL_PASSWORD"}},
		{"no Sentinel password", edit(sentinel.Settings, func(s *redisconn.Settings) { s.SentinelUsername, s.SentinelPassword = "", secret.Secret{} }), errs.Invalid,
			[]string{"requires a password (NOAUTH", "set ZOOMSYNC_REDIS_SENTINEL_PASSWORD"}},
		{"Sentinel ACL user lacks a command", edit(sentinel.Settings, func(s *redisconn.Settings) {
			s.SentinelUsername, s.SentinelPassword = "limited", secret.New("limited-password-2")
		}), errs.Invalid, []string{"Sentinel 127.0.0.1:", `user "limited" lacks a permission zoomsync needs (NOPERM`}},
		{"unknown master name", edit(sentinel.Settings, func(s *redisconn.Settings) { s.MasterName = "other" }), errs.Invalid,
			[]string{`does not monitor a master named "other"`, "check ZOOMSYNC_REDIS_MASTER_NAME"}},
		{"wrong master password behind Sentinels", edit(sentinel.Settings, func(s *redisconn.Settings) { s.Password = secret.New("wrong-password-1") }), errs.Invalid,
			[]string{`the Redis master "zoomsync" refused the credentials of user "zoomsync"`, "check ZOOMSYNC_REDIS_USERNAME and ZOOMSYNC_REDIS_PASSWORD"}},
		{"nothing listening", edit(plain.Settings, func(s *redisconn.Settings) { s.URL = secret.New("redis://127.0.0.1:1/0") }), errs.Unavailable,
			[]string{"Redis at 127.0.0.1:1 did not answer", "connection refused"}},
		{"client certificate given", certRequired.Settings, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.name == "TLS to a plain-text port" {
				// The handshake waits for the check's timeout
				// (CheckTimeout); a shorter one is plenty on loopback.
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 1500*time.Millisecond)
				defer cancel()
			}
			err := check(ctx, tt.st())
			if tt.wants == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || errs.KindOf(err) != tt.kind {
				t.Fatalf("kind %v, want %v: %v", errs.KindOf(err), tt.kind, err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
			for _, p := range passwords {
				if strings.Contains(err.Error(), p) {
					t.Errorf("%q shows a password", err)
				}
			}
		})
	}
}

func TestOpenNeverQuotesTheURL(t *testing.T) {
	_, err := redisconn.Open(redisconn.Settings{URL: secret.New("redis://u:url-password-9@h:6379/notadb")}, redisconn.Options{})
	if err == nil || strings.Contains(err.Error(), "url-password-9") || !strings.Contains(err.Error(), "ZOOMSYNC_REDIS_URL: is not a valid Redis URL") {
		t.Fatalf("%v", err)
	}
}

func TestACLRules(t *testing.T) {
	line := redisconn.ACLSetUser("zoomsync")
	for _, want := range []string{"ACL SETUSER zoomsync on >PASSWORD resetkeys ~zs:* resetchannels &zs:* -@all +hello +ping ", " +evalsha ", " +xgroup|create ", " +subscribe"} {
		if !strings.Contains(line, want) {
			t.Errorf("%s lacks %q", line, want)
		}
	}
	seen := map[string]bool{}
	for _, c := range redisconn.Commands {
		if seen[c.ACL] {
			t.Errorf("%s listed twice", c.ACL)
		}
		seen[c.ACL] = true
	}
}

// TestOperationsGuideHasTheACL: the ACL lines operators copy from
// docs/OPERATIONS.md are the ones the test topologies grant.
func TestOperationsGuideHasTheACL(t *testing.T) {
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{redisconn.ACLSetUser("zoomsync"), redisconn.SentinelACLSetUser("zoomsync-sentinel")} {
		if !strings.Contains(string(b), "\n"+line+"\n") {
			t.Errorf("docs/OPERATIONS.md lacks\n%s", line)
		}
	}
}
