package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Error is Check's verdict: Kind Invalid (the configuration or the
// server's setup is wrong; retrying cannot help) or Unavailable (Redis did
// not answer). Error() is one line and holds no secret.
type Error struct {
	Kind errs.Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the client's error.
func (e *Error) Unwrap() error { return e.Err }

// ErrorKind reports Kind.
func (e *Error) ErrorKind() errs.Kind { return e.Kind }

// CheckTimeout bounds each step of Check: the Sentinels, the first
// answer of the data nodes, the ACL probe.
const CheckTimeout = 5 * time.Second

// OperationsACL is where the operator finds the ACL to grant.
const OperationsACL = `the ACL in docs/OPERATIONS.md ("Redis ACL")`

// Check connects as zoomsync will and asks the server to accept it: the
// Sentinels (credentials, master name, the commands the client sends
// them), then the data nodes (credentials, certificates), then every
// command of Commands on each master, queued in a MULTI that is discarded
// (Redis checks ACL permissions, keys and channels included, when it
// queues a command; nothing runs).
func Check(ctx context.Context, rdb redis.UniversalClient, s Settings) error {
	if s.MasterName != "" {
		if err := checkSentinels(ctx, s); err != nil {
			return err
		}
	}
	step, cancel := context.WithTimeout(ctx, CheckTimeout)
	err := rdb.Ping(step).Err()
	cancel()
	if err != nil {
		addrs := s.Addrs
		if s.MasterName != "" {
			addrs = nil // the master's address is the Sentinels' to give
		}
		return plainTextVerdict(ctx, verdict(err, s.dataRole()), s.dataRole(), append(addrs, s.urlAddr()))
	}
	probe := func(ctx context.Context, c *redis.Client) error {
		return probeACL(ctx, c, s.dataRole())
	}
	step, cancel = context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(step, probe)
	case *redis.Client:
		return probe(step, c)
	}
	return nil
}

// urlAddr is the URL's host:port, or "".
func (s Settings) urlAddr() string {
	u, err := url.Parse(s.URL.Reveal())
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "6379")
	}
	return u.Host
}

// plainTextVerdict: a TLS handshake with a server that speaks plain text
// waits until it times out (the server waits for the end of a line that
// never comes). When v is such a wait, it asks one of addrs for a
// plain-text PING; an answer makes the verdict a clear one.
func plainTextVerdict(ctx context.Context, v *Error, r role, addrs []string) *Error {
	if v.Kind != errs.Unavailable || !r.tls {
		return v
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, a := range addrs {
		if a != "" && answersPlainText(ctx, a) {
			what := r.what
			if !strings.Contains(what, a) {
				what += " at " + a
			}
			return invalid(v.Err, "%s answers in plain text, not TLS: turn ZOOMSYNC_REDIS_TLS off (or use a redis:// URL), or enable TLS on the server", what)
		}
	}
	return v
}

func answersPlainText(ctx context.Context, addr string) bool {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 1)
	n, _ := c.Read(b)
	return n == 1 && (b[0] == '+' || b[0] == '-')
}

// role is who answered, and which variables configure zoomsync's side
// of that conversation.
type role struct {
	what     string // "Redis at 127.0.0.1:6379"
	user     string
	credVars string // where the credentials come from
	passVar  string
	tls      bool
	sentinel bool
}

func (s Settings) dataRole() role {
	r := role{user: s.Username, passVar: "ZOOMSYNC_REDIS_PASSWORD", tls: s.TLS.Enabled,
		credVars: "ZOOMSYNC_REDIS_USERNAME and ZOOMSYNC_REDIS_PASSWORD"}
	switch s.Topology() {
	case "sentinel":
		r.what = fmt.Sprintf("the Redis master %q", s.MasterName)
	case "cluster":
		r.what = "Redis Cluster (" + strings.Join(s.Addrs, ",") + ")"
	default:
		r.what = "Redis"
		if u, err := url.Parse(s.URL.Reveal()); err == nil {
			r.what = "Redis at " + u.Host
			r.tls = r.tls || u.Scheme == "rediss"
			if s.URLHasCredentials() {
				r.user = u.User.Username()
				r.credVars = "the user and password in ZOOMSYNC_REDIS_URL"
				r.passVar = "a password in ZOOMSYNC_REDIS_URL"
			}
		}
	}
	return r
}

func (s Settings) sentinelRole(addr string) role {
	return role{what: "Sentinel " + addr, user: s.SentinelUsername, passVar: "ZOOMSYNC_REDIS_SENTINEL_PASSWORD", tls: s.TLS.Enabled,
		credVars: "ZOOMSYNC_REDIS_SENTINEL_USERNAME and ZOOMSYNC_REDIS_SENTINEL_PASSWORD", sentinel: true}
}

func (r role) userText() string {
	if r.user == "" {
		return "the default user"
	}
	return fmt.Sprintf("user %q", r.user)
}

func invalid(err error, format string, args ...any) *Error {
	return &Error{Kind: errs.Invalid, Msg: fmt.Sprintf(format, args...), Err: err}
}

// verdict turns a failed connection or command into one line naming what
// failed and the variable to check.
func verdict(err error, r role) *Error {
	cause := oneLine(err)
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		badCert   x509.CertificateInvalidError
		notTLS    tls.RecordHeaderError
	)
	switch {
	case strings.Contains(cause, "NOAUTH"):
		return invalid(err, "%s requires a password (%s): set %s", r.what, cause, r.passVar)
	case redis.IsAuthError(err) || strings.Contains(cause, "invalid password") || strings.Contains(cause, "invalid username-password"):
		return invalid(err, "%s refused the credentials of %s (%s): check %s", r.what, r.userText(), cause, r.credVars)
	case redis.IsPermissionError(err):
		return invalid(err, "%s: %s lacks a permission zoomsync needs (%s): grant %s, or check %s", r.what, r.userText(), cause, OperationsACL, r.credVars)
	case strings.Contains(cause, "without any password configured") || strings.Contains(cause, "no password is set"):
		return invalid(err, "%s has no password, but zoomsync sends one (%s): check %s", r.what, cause, r.credVars)
	case errors.As(err, &unknownCA):
		return invalid(err, "%s presented a certificate this host does not trust (%s): set ZOOMSYNC_REDIS_TLS_CA_FILE to the CA that signed it", r.what, cause)
	case errors.As(err, &hostname):
		return invalid(err, "%s presented a certificate that is not valid for %q (%s): set ZOOMSYNC_REDIS_TLS_SERVER_NAME to a name the certificate carries", r.what, hostname.Host, cause)
	case errors.As(err, &badCert):
		return invalid(err, "%s presented a certificate that cannot be used (%s): check the server's certificate and ZOOMSYNC_REDIS_TLS_CA_FILE", r.what, cause)
	case errors.As(err, &notTLS) || strings.Contains(cause, "first record does not look like a TLS handshake"):
		return invalid(err, "%s does not speak TLS (%s): turn ZOOMSYNC_REDIS_TLS off (or use a redis:// URL), or enable TLS on the server", r.what, cause)
	case strings.Contains(cause, "tls: certificate required"):
		return invalid(err, "%s requires a client certificate (%s): set ZOOMSYNC_REDIS_TLS_CERT_FILE and ZOOMSYNC_REDIS_TLS_KEY_FILE", r.what, cause)
	case strings.Contains(cause, "remote error: tls:"):
		return invalid(err, "%s refused the TLS handshake (%s): check ZOOMSYNC_REDIS_TLS_CERT_FILE and ZOOMSYNC_REDIS_TLS_KEY_FILE (a client certificate signed by a CA the server trusts)", r.what, cause)
	case !r.tls && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return invalid(err, "%s closed the connection during the handshake (%s): if it expects TLS, set ZOOMSYNC_REDIS_TLS=true (or use a rediss:// URL)", r.what, cause)
	}
	return &Error{Kind: errs.Unavailable, Msg: fmt.Sprintf("%s did not answer (%s)", r.what, cause), Err: err}
}

// oneLine is err's text on one line (joined errors are several), bounded.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// checkSentinels passes when one Sentinel answers every command the
// failover client sends it; otherwise it reports the first
// misconfiguration, or that none answered.
func checkSentinels(ctx context.Context, s Settings) error {
	tc, err := s.TLS.Config()
	if err != nil {
		return invalid(err, "%v", err)
	}
	var first, down *Error
	for _, addr := range s.Addrs {
		c := redis.NewSentinelClient(s.sentinelOptions(addr, tc))
		step, cancel := context.WithTimeout(ctx, CheckTimeout)
		err := probeSentinel(step, c, addr, s.MasterName)
		cancel()
		_ = c.Close()
		if err == nil {
			return nil
		}
		var v *Error
		if !errors.As(err, &v) {
			v = plainTextVerdict(ctx, verdict(err, s.sentinelRole(addr)), s.sentinelRole(addr), []string{addr})
		}
		switch {
		case v.Kind == errs.Invalid && first == nil:
			first = v
		case v.Kind != errs.Invalid && down == nil:
			down = v
		}
	}
	if first != nil {
		return first
	}
	return down
}

// SentinelCommands are what the failover client sends a Sentinel, for
// the Sentinels' own ACL user.
var SentinelCommands = []string{"hello", "ping", "sentinel|get-master-addr-by-name", "sentinel|sentinels", "subscribe"}

// SentinelChannels are the channels the failover client subscribes to.
var SentinelChannels = []string{"+switch-master", "+replica-reconf-done"}

// SentinelACLRules are the rules of a Sentinel ACL user for zoomsync.
func SentinelACLRules() []string {
	rules := []string{"resetchannels"}
	for _, ch := range SentinelChannels {
		rules = append(rules, "&"+ch)
	}
	rules = append(rules, "-@all")
	for _, c := range SentinelCommands {
		rules = append(rules, "+"+c)
	}
	return rules
}

// SentinelACLSetUser is the ACL SETUSER line of the Sentinels' user for
// an operator, with PASSWORD to replace.
func SentinelACLSetUser(user string) string {
	return "ACL SETUSER " + user + " on >PASSWORD " + strings.Join(SentinelACLRules(), " ")
}

func probeSentinel(ctx context.Context, c *redis.SentinelClient, addr, master string) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return err
	}
	if _, err := c.GetMasterAddrByName(ctx, master).Result(); err != nil {
		if errors.Is(err, redis.Nil) {
			return invalid(err, "Sentinel %s does not monitor a master named %q: check ZOOMSYNC_REDIS_MASTER_NAME", addr, master)
		}
		return err
	}
	if err := c.Sentinels(ctx, master).Err(); err != nil {
		return err
	}
	sub := c.Subscribe(ctx, SentinelChannels...)
	defer sub.Close()
	_, err := sub.Receive(ctx)
	return err
}

// probeACL queues every command of Commands in a MULTI on one connection
// of c and discards it, and reports those the server refused.
func probeACL(ctx context.Context, c *redis.Client, r role) error {
	conn := c.Conn()
	defer conn.Close()
	// EXEC outside a transaction only fails ("EXEC without MULTI") once
	// the ACL let it through. MULTI alone first: should it be refused,
	// nothing after it may be sent, as those commands would run.
	head, _ := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "EXEC")
		p.Do(ctx, "MULTI")
		return nil
	})
	var refused, unknown []string
	note := func(acl string, err error) {
		if err == nil {
			return
		}
		msg := err.Error()
		switch {
		case redis.IsPermissionError(err):
			what := acl
			switch {
			case strings.Contains(msg, "keys"):
				what = "keys " + KeyPattern
			case strings.Contains(msg, "channels"):
				what = "channels " + ChannelPattern
			}
			if !slices.Contains(refused, what) {
				refused = append(refused, what)
			}
		case strings.HasPrefix(msg, "ERR unknown command") || strings.HasPrefix(msg, "ERR unknown subcommand"):
			unknown = append(unknown, acl)
		}
	}
	if len(head) == 2 {
		note("exec", head[0].Err())
		if err := head[1].Err(); err != nil {
			note("multi", err)
			if len(refused) == 0 && len(unknown) == 0 {
				if isNetworkError(err) {
					return verdict(err, r)
				}
				return nil // a proxy without MULTI: nothing to learn this way
			}
			return aclVerdict(refused, unknown, r)
		}
	}
	var probed []Command
	cmds, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, cmd := range Commands {
			if cmd.Probe != nil {
				probed = append(probed, cmd)
				p.Do(ctx, cmd.Probe...)
			}
		}
		p.Do(ctx, "DISCARD")
		return nil
	})
	if err != nil && len(cmds) != len(probed)+1 {
		return verdict(err, r)
	}
	for i, cmd := range cmds[:len(probed)] {
		note(probed[i].ACL, cmd.Err())
	}
	note("discard", cmds[len(probed)].Err())
	if len(refused) == 0 && len(unknown) == 0 {
		return nil
	}
	return aclVerdict(refused, unknown, r)
}

func aclVerdict(refused, unknown []string, r role) *Error {
	if len(refused) > 0 {
		var cmds, other []string
		for _, x := range refused {
			if strings.Contains(x, " ") {
				other = append(other, x)
			} else {
				cmds = append(cmds, x)
			}
		}
		var what []string
		if len(cmds) > 0 {
			what = append(what, "run "+strings.Join(cmds, ", "))
		}
		if len(other) > 0 {
			what = append(what, "use "+strings.Join(other, ", "))
		}
		return invalid(nil, "%s: %s may not %s (NOPERM): grant %s, or check %s",
			r.what, r.userText(), strings.Join(what, "; may not "), OperationsACL, r.credVars)
	}
	return invalid(nil, "%s does not support %s, which zoomsync needs (Redis 6.2 or later; on a managed service, check that no command is disabled or renamed)",
		r.what, strings.ToUpper(strings.Join(unknown, ", ")))
}

func isNetworkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded)
}
