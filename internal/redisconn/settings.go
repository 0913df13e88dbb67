package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/secret"
)

// Settings say where Redis is and how to authenticate to it. All empty:
// the embedded Redis (not this package's business).
type Settings struct {
	URL        secret.Secret // redis:// or rediss://; may carry a user and password
	Addrs      []string      // Cluster seeds, or Sentinels with MasterName
	MasterName string

	// Username and Password authenticate to the data nodes (AUTH, or an
	// ACL user). With a URL they come from its user info or from here,
	// never both (the configuration refuses it).
	Username string
	Password secret.Secret
	// SentinelUsername and SentinelPassword authenticate to the Sentinels
	// themselves (their requirepass or ACL user).
	SentinelUsername string
	SentinelPassword secret.Secret

	TLS TLS
}

// TLS is how to speak TLS to every node (and to the Sentinels).
type TLS struct {
	Enabled bool // ZOOMSYNC_REDIS_TLS, or a rediss:// URL
	// CAFile: PEM certificates of the CAs to trust instead of the system's.
	CAFile string
	// CertFile and KeyFile: a client certificate, for servers that require
	// one (tls-auth-clients yes).
	CertFile, KeyFile string
	// ServerName is the name to verify every node's certificate against;
	// empty: each node's own host as the client dials it.
	ServerName string
	// InsecureSkipVerify accepts any certificate (tests only).
	InsecureSkipVerify bool
}

// Embedded reports whether no Redis was configured.
func (s Settings) Embedded() bool { return s.URL.IsZero() && len(s.Addrs) == 0 }

// Topology is "embedded", "single", "cluster" or "sentinel".
func (s Settings) Topology() string {
	switch {
	case s.MasterName != "":
		return "sentinel"
	case len(s.Addrs) > 0:
		return "cluster"
	case !s.URL.IsZero():
		return "single"
	}
	return "embedded"
}

// RedactedURL is the URL with any password replaced.
func (s Settings) RedactedURL() string {
	if s.URL.IsZero() {
		return ""
	}
	u, err := url.Parse(s.URL.Reveal())
	if err != nil {
		return "[unparseable]"
	}
	return u.Redacted()
}

// URLHasCredentials reports whether the URL carries a user or password.
func (s Settings) URLHasCredentials() bool {
	u, err := url.Parse(s.URL.Reveal())
	return err == nil && u.User != nil && (u.User.Username() != "" || hasPassword(u.User))
}

func hasPassword(ui *url.Userinfo) bool { p, ok := ui.Password(); return ok && p != "" }

// InsecureTLS reports whether certificates go unverified: through
// ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY or the URL's skip_verify=true.
func (s Settings) InsecureTLS() bool {
	if s.TLS.InsecureSkipVerify {
		return true
	}
	if s.URL.IsZero() {
		return false
	}
	u, err := url.Parse(s.URL.Reveal())
	if err != nil || u.Scheme != "rediss" {
		return false
	}
	b, _ := strconv.ParseBool(u.Query().Get("skip_verify"))
	return b
}

// VarError is a setting that cannot work, naming its variable.
type VarError struct {
	Var string
	Msg string
}

func (e *VarError) Error() string { return e.Var + ": " + e.Msg }

// Config builds the tls.Config (nil when TLS is off), reading the CA,
// certificate and key files.
func (t TLS) Config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &VarError{"ZOOMSYNC_REDIS_TLS_CA_FILE", "cannot read " + t.CAFile + ": " + pathErr(err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &VarError{"ZOOMSYNC_REDIS_TLS_CA_FILE", t.CAFile + " holds no PEM certificate"}
		}
		c.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return nil, &VarError{"ZOOMSYNC_REDIS_TLS_KEY_FILE", "is required with ZOOMSYNC_REDIS_TLS_CERT_FILE (the client certificate's private key)"}
	case t.KeyFile != "" && t.CertFile == "":
		return nil, &VarError{"ZOOMSYNC_REDIS_TLS_CERT_FILE", "is required with ZOOMSYNC_REDIS_TLS_KEY_FILE (the client certificate)"}
	case t.CertFile != "":
		for name, path := range map[string]string{"ZOOMSYNC_REDIS_TLS_CERT_FILE": t.CertFile, "ZOOMSYNC_REDIS_TLS_KEY_FILE": t.KeyFile} {
			if _, err := os.Stat(path); err != nil {
				return nil, &VarError{name, "cannot read " + path + ": " + pathErr(err)}
			}
		}
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// crypto/tls's messages name no key material.
			return nil, &VarError{"ZOOMSYNC_REDIS_TLS_CERT_FILE", "cannot use " + t.CertFile + " with ZOOMSYNC_REDIS_TLS_KEY_FILE: " + strings.TrimPrefix(err.Error(), "tls: ")}
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

func pathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// Options tune the client beyond the operator's settings.
type Options struct {
	PoolSize int // 0: go-redis's default
}

// Open builds the client for s (not the embedded Redis). It does not
// connect; Check does.
func Open(s Settings, o Options) (redis.UniversalClient, error) {
	tc, err := s.TLS.Config()
	if err != nil {
		return nil, err
	}
	if !s.URL.IsZero() {
		opts, err := redis.ParseURL(s.URL.Reveal())
		if err != nil {
			// The parser's message may quote the URL, password and all.
			return nil, &VarError{"ZOOMSYNC_REDIS_URL", "is not a valid Redis URL"}
		}
		if s.Username != "" {
			opts.Username = s.Username
		}
		if !s.Password.IsZero() {
			opts.Password = s.Password.Reveal()
		}
		switch {
		case opts.TLSConfig != nil && tc != nil:
			// rediss://: the URL's host is the default name to verify, and
			// its skip_verify=true stands.
			if tc.ServerName == "" {
				tc.ServerName = opts.TLSConfig.ServerName
			}
			tc.InsecureSkipVerify = tc.InsecureSkipVerify || opts.TLSConfig.InsecureSkipVerify
			opts.TLSConfig = tc
		case tc != nil:
			opts.TLSConfig = tc
		}
		opts.PoolSize = o.PoolSize
		return redis.NewClient(opts), nil
	}
	uo := &redis.UniversalOptions{
		Addrs:            s.Addrs,
		MasterName:       s.MasterName,
		Username:         s.Username,
		Password:         s.Password.Reveal(),
		SentinelUsername: s.SentinelUsername,
		SentinelPassword: s.SentinelPassword.Reveal(),
		TLSConfig:        tc,
		PoolSize:         o.PoolSize,
	}
	if s.MasterName == "" {
		uo.IsClusterMode = true
	}
	return redis.NewUniversalClient(uo), nil
}

// sentinelOptions are the options of a direct connection to one Sentinel,
// as the failover client makes them.
func (s Settings) sentinelOptions(addr string, tc *tls.Config) *redis.Options {
	return &redis.Options{Addr: addr, Username: s.SentinelUsername, Password: s.SentinelPassword.Reveal(), TLSConfig: tc,
		MaxRetries: -1, DisableIdentity: true}
}
