package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// redacted stands for the parts of a target URL that may carry a
// credential.
const redacted = "redacted"

// RedactURL is raw as logs, errors, dead letters and GET /v1/targets show
// it: the scheme, host and path are kept; user info (user and password),
// the query (names and values: a bare "?token" is a credential too) and
// any fragment are replaced by "redacted". A URL that does not parse is
// shown as "[unparseable URL]", since nothing tells which part of it is
// secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "[unparseable URL]"
	}
	var b strings.Builder
	if u.Scheme != "" {
		b.WriteString(u.Scheme + ":")
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil {
		b.WriteString("//")
	}
	if u.User != nil {
		b.WriteString(redacted + "@")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?" + redacted)
	}
	if u.Fragment != "" {
		b.WriteString("#" + redacted)
	}
	return b.String()
}

// redactErr replaces the URL net/http quotes in a *url.Error (it strips a
// password, but keeps the user name and the query) with RedactURL's.
func redactErr(method, rawURL string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %s: %w", method, RedactURL(rawURL), err)
}

// String prints the target without its secrets and with its endpoint
// redacted.
func (c Config) String() string {
	return fmt.Sprintf("target %q (%s %s)", c.Name, c.Type, c.Endpoint())
}

// GoString covers %#v.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("name", c.Name), slog.String("type", c.Type)}
	if e := c.Endpoint(); e != "" {
		attrs = append(attrs, slog.String("endpoint", e))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes the common configuration and the redacted endpoint
// (a type's settings, secrets among them, never marshal).
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	return json.Marshal(struct {
		plain
		Endpoint string `json:"endpoint,omitempty"`
	}{plain(c), c.Endpoint()})
}
