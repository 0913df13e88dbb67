package secret

import (
	"encoding/json"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is a string that never prints itself.
type Secret struct{ v string }

// New wraps s.
func New(s string) Secret { return Secret{v: s} }

// Reveal returns the plain value. Call it only where the value is sent to
// its intended recipient (an HMAC key, a Basic auth header, a bind).
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer; it never returns the value.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString covers %#v.
func (s Secret) GoString() string { return `secret.Secret("` + s.String() + `")` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON never emits the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a plain JSON string (secrets arrive in mounted files).
func (s *Secret) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &s.v) }

// UnmarshalText lets go-envconfig decode environment variables into a Secret.
func (s *Secret) UnmarshalText(b []byte) error { s.v = string(b); return nil }

// MarshalText never emits the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
