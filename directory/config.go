package directory

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// Config says how to reach the directory and which entries are people.
type Config struct {
	URL                string // ldap://host[:port] or ldaps://host[:port]
	StartTLS           bool   // upgrade an ldap:// connection with StartTLS
	CAFile             string // PEM file of CAs to trust (default: system roots)
	InsecureSkipVerify bool   // only when explicitly asked
	BindDN             string // service account; empty: anonymous
	BindPassword       secret.Secret
	BaseDN             string // where people are searched
	UserFilter         string // which entries are people
	// GroupDN, when set, narrows people to members of that group: on
	// Active Directory members at any depth of nesting (the in-chain
	// matching rule), elsewhere direct members (memberOf, e.g. OpenLDAP's
	// memberof overlay).
	GroupDN  string
	PageSize int // paged-results size (AD caps at 1000)
	// Timeout bounds connecting and each request; 0: 30 s.
	Timeout time.Duration
}

// DefaultUserFilter is used when Config.UserFilter is empty.
const DefaultUserFilter = "(objectClass=inetOrgPerson)"

func (c *Config) validate() error {
	op := "directory.New"
	if c.URL == "" {
		return errs.Errorf(op, errs.Invalid, "LDAP_URL is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return errs.Errorf(op, errs.Invalid, "LDAP_URL %q is not an ldap:// or ldaps:// URL", c.URL)
	}
	switch u.Scheme {
	case "ldap":
	case "ldaps":
		if c.StartTLS {
			return errs.Errorf(op, errs.Invalid, "LDAP_START_TLS applies to ldap:// URLs; %q is already TLS", c.URL)
		}
	default:
		return errs.Errorf(op, errs.Invalid, "LDAP_URL scheme %q: want ldap or ldaps", u.Scheme)
	}
	if c.BaseDN == "" {
		return errs.Errorf(op, errs.Invalid, "LDAP_BASE_DN is empty")
	}
	if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		return errs.Errorf(op, errs.Invalid, "LDAP_BASE_DN %q: %v", c.BaseDN, err)
	}
	if c.GroupDN != "" {
		if _, err := ldap.ParseDN(c.GroupDN); err != nil {
			return errs.Errorf(op, errs.Invalid, "LDAP_GROUP_DN %q: %v", c.GroupDN, err)
		}
	}
	if c.UserFilter == "" {
		c.UserFilter = DefaultUserFilter
	}
	if _, err := ldap.CompileFilter(c.UserFilter); err != nil {
		return errs.Errorf(op, errs.Invalid, "LDAP_USER_FILTER %q: %v", c.UserFilter, err)
	}
	if c.PageSize <= 0 {
		c.PageSize = 500
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.BindDN == "" && !c.BindPassword.IsZero() {
		return errs.Errorf(op, errs.Invalid, "LDAP_BIND_PASSWORD is set but LDAP_BIND_DN is empty")
	}
	return nil
}

// oidMatchingRuleInChain is Active Directory's LDAP_MATCHING_RULE_IN_CHAIN:
// memberOf:1.2.840.113556.1.4.1941:=G matches members of G at any depth.
const oidMatchingRuleInChain = "1.2.840.113556.1.4.1941"

// peopleFilter is the filter of the people of a read on a server of
// flavor f: the user filter, narrowed to the members of GroupDN when set.
// The group's DN is filter-escaped here, once (a DN may hold parentheses,
// and its own escapes such as \, hold a backslash).
func (c *Config) peopleFilter(f Flavor) string {
	if c.GroupDN == "" {
		return c.UserFilter
	}
	rule := "memberOf="
	if f == ActiveDirectory {
		rule = "memberOf:" + oidMatchingRuleInChain + ":="
	}
	return "(&" + c.UserFilter + "(" + rule + ldap.EscapeFilter(c.GroupDN) + "))"
}

// warnings are the configuration's risks that start-up logs loudly:
// allowed (some sites run so on a trusted network), but never silently.
func (c *Config) warnings() []string {
	u, _ := url.Parse(c.URL)
	var out []string
	if u.Scheme == "ldap" && !c.StartTLS && c.BindDN != "" {
		out = append(out, "LDAP_BIND_PASSWORD is sent in clear text: LDAP_URL is ldap:// without LDAP_START_TLS=true; "+
			"use ldaps:// or LDAP_START_TLS=true with LDAP_CA_FILE (Active Directory refuses such binds by default)")
	}
	if c.InsecureSkipVerify {
		out = append(out, "LDAP_INSECURE_SKIP_VERIFY=true: the directory server's certificate is not checked, so anyone on the "+
			"network path can read LDAP_BIND_PASSWORD and answer as the directory; set LDAP_CA_FILE to its CA instead")
	}
	return out
}

// tlsConfig builds the TLS configuration once; nil for plain ldap://
// without StartTLS.
func (c *Config) tlsConfig() (*tls.Config, error) {
	u, _ := url.Parse(c.URL)
	if u.Scheme != "ldaps" && !c.StartTLS {
		if c.CAFile != "" || c.InsecureSkipVerify {
			return nil, errs.Errorf("directory.New", errs.Invalid,
				"LDAP_CA_FILE / LDAP_INSECURE_SKIP_VERIFY set but the connection is not TLS (use ldaps:// or LDAP_START_TLS=true)")
		}
		return nil, nil
	}
	cfg := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, errs.Errorf("directory.New", errs.Invalid, "LDAP_CA_FILE: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errs.Errorf("directory.New", errs.Invalid, "LDAP_CA_FILE %s: no PEM certificates in it", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// String describes the configuration without the password.
func (c Config) String() string {
	return fmt.Sprintf("%s starttls=%t base=%q filter=%q group=%q bind=%q page=%d", c.URL, c.StartTLS, c.BaseDN, c.UserFilter, c.GroupDN, c.BindDN, c.PageSize)
}
