package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-ldap/ldap/v3"
	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Options are what New needs beside the configuration.
type Options struct {
	Logger *slog.Logger
	Clock  clockwork.Clock
	// Attempts is how many times a transient failure is tried before it is
	// returned; 0: 4.
	Attempts int
	// Connections is how many searches a Read runs at once over disjoint
	// ranges of entryUUID, on servers that can order by it (OpenLDAP),
	// once a previous read gave the split points (SplitPoints); 0: 2.
	// Other servers are read with one paged search.
	Connections int
}

// Directory reads people from one LDAP server.
type Directory struct {
	cfg  Config
	tls  *tls.Config
	opts Options

	afterPage func(entries int) // tests: called after each page of a search
}

// New checks the configuration and prepares TLS; it does not connect.
func New(cfg Config, opts Options) (*Directory, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Connections <= 0 {
		opts.Connections = 2
	}
	for _, w := range cfg.warnings() {
		opts.Logger.Warn("directory: INSECURE: " + w)
	}
	return &Directory{cfg: cfg, tls: t, opts: opts}, nil
}

// Config returns the configuration in use (defaults filled in).
func (d *Directory) Config() Config { return d.cfg }

// connect dials, upgrades with StartTLS when asked and binds as the
// service account.
func (d *Directory) connect(ctx context.Context) (*ldap.Conn, error) {
	const op = "directory.connect"
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(dialer)}
	if d.tls != nil && !d.cfg.StartTLS {
		opts = append(opts, ldap.DialWithTLSConfig(d.tls))
	}
	type result struct {
		conn *ldap.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ldap.DialURL(d.cfg.URL, opts...)
		done <- result{c, err}
	}()
	var conn *ldap.Conn
	select {
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	case r := <-done:
		if r.err != nil {
			return nil, classify(op, fmt.Errorf("connecting to %s: %w", d.cfg.URL, r.err))
		}
		conn = r.conn
	}
	conn.SetTimeout(d.cfg.Timeout)
	if d.cfg.StartTLS {
		if err := conn.StartTLS(d.tls); err != nil {
			conn.Close()
			return nil, classify(op, fmt.Errorf("StartTLS with %s: %w", d.cfg.URL, err))
		}
	}
	var err error
	if d.cfg.BindDN == "" {
		err = conn.UnauthenticatedBind("")
	} else {
		_, err = conn.SimpleBind(&ldap.SimpleBindRequest{Username: d.cfg.BindDN, Password: d.cfg.BindPassword.Reveal()})
	}
	if err != nil {
		conn.Close()
		return nil, classify(op, bindError(d.cfg.BindDN, err))
	}
	return conn, nil
}

// adBindReasons are the "data" codes of Active Directory's invalid
// credentials answers (result 49): why the bind was refused.
var adBindReasons = map[string]string{
	"525": "no such account",
	"52e": "wrong password or no such account",
	"530": "the account may not log on at this time",
	"531": "the account may not log on from this computer",
	"532": "the account's password has expired",
	"533": "the account is disabled",
	"701": "the account has expired",
	"773": "the account must change its password",
	"775": "the account is locked out",
}

// bindError says in one line why the server refused the bind, and what
// to set: never the password, and none of the server's multi-line or
// NUL-terminated text.
func bindError(who string, err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("binding as %q: %w", who, err)
	}
	diag := ""
	if le.Err != nil {
		diag = le.Err.Error()
	}
	var reason string
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials:
		reason = "wrong LDAP_BIND_DN or LDAP_BIND_PASSWORD"
		if i := strings.Index(diag, ", data "); i >= 0 {
			code := strings.TrimSpace(strings.SplitN(diag[i+len(", data "):], ",", 2)[0])
			if r, ok := adBindReasons[code]; ok {
				reason = fmt.Sprintf("%s (Active Directory data %s); check LDAP_BIND_DN and LDAP_BIND_PASSWORD", r, code)
			}
		}
	case ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
		reason = "the server requires TLS for a simple bind (Active Directory's default): use ldaps:// or LDAP_START_TLS=true, with LDAP_CA_FILE"
	case ldap.LDAPResultInappropriateAuthentication:
		reason = "the server does not accept this kind of bind for the account (an empty password is an anonymous bind)"
	default:
		return fmt.Errorf("binding as %q: %w", who, err)
	}
	return &oneLineError{msg: fmt.Sprintf("binding as %q refused: %s [LDAP %d]", who, reason, le.ResultCode), err: err}
}

// oneLineError shows msg and keeps err for errors.Is/As.
type oneLineError struct {
	msg string
	err error
}

func (e *oneLineError) Error() string { return e.msg }
func (e *oneLineError) Unwrap() error { return e.err }

// classify gives an LDAP or network error its kind.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var (
		unknownCA *x509.UnknownAuthorityError
		invalid   *x509.CertificateInvalidError
		hostname  *x509.HostnameError
		verify    *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
		// The server's certificate is not trusted: retrying cannot help.
		return errs.E(op, errs.Auth, fmt.Errorf("%w (set LDAP_CA_FILE to the CA that signed the server's certificate)", err))
	}
	var le *ldap.Error
	if !errors.As(err, &le) {
		var ne net.Error
		if errors.As(err, &ne) {
			return errs.E(op, errs.Unavailable, err)
		}
		return errs.E(op, errs.Permanent, err)
	}
	if le.ResultCode == ldap.ErrorNetwork && le.Err != nil && strings.Contains(le.Err.Error(), "failed to verify certificate") {
		// go-ldap reports StartTLS handshake failures as text.
		return errs.E(op, errs.Auth, fmt.Errorf("%w (set LDAP_CA_FILE to the CA that signed the server's certificate)", err))
	}
	switch le.ResultCode {
	case ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
		return errs.E(op, errs.Auth, err)
	case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultTimeLimitExceeded,
		ldap.LDAPResultOther, ldap.ErrorNetwork, ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError:
		if le.ResultCode == ldap.ErrorNetwork || le.ResultCode == ldap.LDAPResultServerDown || le.ResultCode == ldap.LDAPResultConnectError {
			return errs.E(op, errs.Unavailable, err)
		}
		return errs.E(op, errs.Transient, err)
	case ldap.LDAPResultNoSuchObject:
		return errs.E(op, errs.NotFound, err)
	case ldap.LDAPResultFilterError, ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultProtocolError:
		return errs.E(op, errs.Invalid, err)
	}
	return errs.E(op, errs.Permanent, err)
}

// retry runs f until it succeeds, fails for good, or Attempts is spent,
// sleeping a jittered exponential backoff on the directory's clock between
// attempts.
func (d *Directory) retry(ctx context.Context, what string, f func(context.Context) error) error {
	// 0.2 s doubling to 10 s, jittered over [0.5, 1.5) of it.
	retry := &backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 10 * time.Second}
	var err error
	for attempt := 1; ; attempt++ {
		if err = f(ctx); err == nil || !errs.Retryable(err) || attempt >= d.opts.Attempts || ctx.Err() != nil {
			return err
		}
		wait := retry.NextBackOff()
		d.opts.Logger.Warn("directory: retrying", slog.String("what", what), slog.Int("attempt", attempt),
			slog.Duration("backoff", wait), slog.String("error", err.Error()))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.opts.Clock.After(wait):
		}
	}
}

// Ping connects and binds once: a configuration check for startup.
func (d *Directory) Ping(ctx context.Context) error {
	return d.retry(ctx, "ping", func(ctx context.Context) error {
		c, err := d.connect(ctx)
		if err != nil {
			return err
		}
		return c.Close()
	})
}
