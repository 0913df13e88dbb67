package testserver

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// Security turns on what managed Redis services require, for StartRedis,
// StartClusterWith and StartSentinelWith: a password, an ACL user, TLS
// (with or without client certificates), and the Sentinels' own password
// and ACL user. The harness itself connects as the default user with
// AdminPassword.
type Security struct {
	// AdminPassword is requirepass, the default user's password (and
	// masterauth, for replicas).
	AdminPassword string
	// User is an ACL user created at start with UserPassword and
	// UserRules ("~zs:*", "+get", …); empty: none.
	User, UserPassword string
	UserRules          []string

	// SentinelPassword is requirepass on the Sentinels (also what they
	// use with each other).
	SentinelPassword string
	// SentinelUser is an ACL user on the Sentinels.
	SentinelUser, SentinelUserPassword string
	SentinelUserRules                  []string

	// TLS serves TLS only (port 0, tls-port), with Certs; replication, the
	// Cluster bus and Sentinels use it too.
	TLS   bool
	Certs TLSFiles
	// AuthClients is tls-auth-clients: "optional" (default: a client
	// certificate is checked when given) or "yes" (required).
	AuthClients string
}

// SecureEnv is the environment variable that runs the reconciler's
// Redis-backed tests on the secured topologies: ZOOMSYNC_TEST_REDIS=secure.
const SecureEnv = "ZOOMSYNC_TEST_REDIS"

// SecureRun reports whether this test run asked for the secured
// topologies (SecureEnv=secure).
func SecureRun() bool { return os.Getenv(SecureEnv) == "secure" }

// NewSecurity generates certificates in a temporary directory of tb and
// random passwords: TLS on (client certificates optional), requirepass,
// an ACL user "zoomsync" with rules, and on Sentinels requirepass plus an
// ACL user "zoomsync-sentinel" with sentinelRules.
func NewSecurity(tb testing.TB, rules, sentinelRules []string) *Security {
	tb.Helper()
	certs, err := GenerateTLS(tb.TempDir())
	if err != nil {
		tb.Fatalf("testserver: tls: %v", err)
	}
	return &Security{
		AdminPassword: "admin-" + randomHex(tb), User: "zoomsync", UserPassword: "user-" + randomHex(tb), UserRules: rules,
		SentinelPassword: "sentinel-" + randomHex(tb), SentinelUser: "zoomsync-sentinel", SentinelUserPassword: "sentinel-user-" + randomHex(tb),
		SentinelUserRules: sentinelRules, TLS: true, Certs: certs, AuthClients: "optional",
	}
}

func randomHex(tb testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// conf is the redis-server configuration lines for s.
func (s *Security) conf() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	if s.AdminPassword != "" {
		fmt.Fprintf(&b, "requirepass %s\nmasterauth %s\n", s.AdminPassword, s.AdminPassword)
	}
	if s.User != "" {
		fmt.Fprintf(&b, "user %s on >%s %s\n", s.User, s.UserPassword, strings.Join(s.UserRules, " "))
	}
	b.WriteString(s.tlsConf())
	return b.String()
}

func (s *Security) tlsConf() string {
	if s == nil || !s.TLS {
		return ""
	}
	auth := s.AuthClients
	if auth == "" {
		auth = "optional"
	}
	return fmt.Sprintf("tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients %s\ntls-replication yes\ntls-cluster yes\n",
		s.Certs.CertFile, s.Certs.KeyFile, s.Certs.CAFile, auth)
}

// portArgs are the listening arguments: the port in plain text, or TLS
// only on it.
func (s *Security) portArgs(port int) []string {
	if s != nil && s.TLS {
		return []string{"--port", "0", "--tls-port", itoa(port)}
	}
	return []string{"--port", itoa(port)}
}

// portConf is portArgs as configuration-file lines.
func (s *Security) portConf(port int) string {
	if s != nil && s.TLS {
		return fmt.Sprintf("port 0\ntls-port %d\n", port)
	}
	return fmt.Sprintf("port %d\n", port)
}

// writeConf writes the configuration file into dir and returns its path,
// or "" when there is nothing to write.
func (s *Security) writeConf(tb testing.TB, dir string) string {
	tb.Helper()
	c := s.conf()
	if c == "" {
		return ""
	}
	p := filepath.Join(dir, "security.conf")
	if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// ClientTLS is the harness's TLS configuration: the test CA and the
// client certificate. Nil without TLS.
func (s *Security) ClientTLS() *tls.Config {
	if s == nil || !s.TLS {
		return nil
	}
	pem, err := os.ReadFile(s.Certs.CAFile)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	pair, err := tls.LoadX509KeyPair(s.Certs.ClientCertFile, s.Certs.ClientKeyFile)
	if err != nil {
		panic(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// adminOptions are options for the harness's own connection to addr.
func (s *Security) adminOptions(addr string) *redis.Options {
	o := &redis.Options{Addr: addr}
	if s != nil {
		o.Password = s.AdminPassword
		o.TLSConfig = s.ClientTLS()
	}
	return o
}

// cliArgs are redis-cli's arguments to connect as the admin.
func (s *Security) cliArgs() []string {
	if s == nil {
		return nil
	}
	var args []string
	if s.AdminPassword != "" {
		args = append(args, "-a", s.AdminPassword, "--no-auth-warning")
	}
	if s.TLS {
		args = append(args, "--tls", "--cacert", s.Certs.CAFile, "--cert", s.Certs.ClientCertFile, "--key", s.Certs.ClientKeyFile)
	}
	return args
}

// Scheme is redis or rediss.
func (s *Security) scheme() string {
	if s != nil && s.TLS {
		return "rediss"
	}
	return "redis"
}

// settings is how zoomsync connects as s.User (the admin without
// one) with TLS and, with AuthClients "yes", the client certificate; the
// caller adds where.
func (s *Security) settings() redisconn.Settings {
	var st redisconn.Settings
	if s == nil {
		return st
	}
	if s.User != "" {
		st.Username, st.Password = s.User, secret.New(s.UserPassword)
	} else {
		st.Password = secret.New(s.AdminPassword)
	}
	if s.SentinelUser != "" {
		st.SentinelUsername, st.SentinelPassword = s.SentinelUser, secret.New(s.SentinelUserPassword)
	} else {
		st.SentinelPassword = secret.New(s.SentinelPassword)
	}
	if s.TLS {
		st.TLS = redisconn.TLS{Enabled: true, CAFile: s.Certs.CAFile}
		if s.AuthClients == "yes" {
			st.TLS.CertFile, st.TLS.KeyFile = s.Certs.ClientCertFile, s.Certs.ClientKeyFile
		}
	}
	return st
}

// EnvOf is st as the ZOOMSYNC_REDIS_* variables an operator would set.
func EnvOf(st redisconn.Settings) map[string]string {
	env := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	set("ZOOMSYNC_REDIS_URL", st.URL.Reveal())
	set("ZOOMSYNC_REDIS_ADDRS", strings.Join(st.Addrs, ","))
	set("ZOOMSYNC_REDIS_MASTER_NAME", st.MasterName)
	set("ZOOMSYNC_REDIS_USERNAME", st.Username)
	set("ZOOMSYNC_REDIS_PASSWORD", st.Password.Reveal())
	if st.MasterName != "" {
		set("ZOOMSYNC_REDIS_SENTINEL_USERNAME", st.SentinelUsername)
		set("ZOOMSYNC_REDIS_SENTINEL_PASSWORD", st.SentinelPassword.Reveal())
	}
	if st.TLS.Enabled {
		env["ZOOMSYNC_REDIS_TLS"] = "true"
		set("ZOOMSYNC_REDIS_TLS_CA_FILE", st.TLS.CAFile)
		set("ZOOMSYNC_REDIS_TLS_CERT_FILE", st.TLS.CertFile)
		set("ZOOMSYNC_REDIS_TLS_KEY_FILE", st.TLS.KeyFile)
	}
	return env
}

// sentinelConf is a Sentinel's configuration lines for s (after its
// monitor line).
func (s *Security) sentinelConf() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	if s.AdminPassword != "" {
		fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", MasterName, s.AdminPassword)
	}
	if s.SentinelPassword != "" {
		fmt.Fprintf(&b, "requirepass %s\n", s.SentinelPassword)
	}
	if s.SentinelUser != "" {
		fmt.Fprintf(&b, "user %s on >%s %s\n", s.SentinelUser, s.SentinelUserPassword, strings.Join(s.SentinelUserRules, " "))
	}
	b.WriteString(s.tlsConf())
	return b.String()
}

// sentinelOptions are options for the harness's own connection to a
// Sentinel.
func (s *Security) sentinelOptions(addr string) *redis.Options {
	o := &redis.Options{Addr: addr}
	if s != nil {
		o.Password = s.SentinelPassword
		o.TLSConfig = s.ClientTLS()
	}
	return o
}
