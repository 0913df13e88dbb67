package mapping

import (
	"fmt"
	"strings"
)

// Zoom fields a rule can match on.
const (
	FieldEmail            = "email"
	FieldEmployeeUniqueID = "employee_unique_id"
	FieldID               = "id"
	FieldExtension        = "extension"
)

// Rule matches a Zoom user field against a directory attribute.
type Rule struct {
	ZoomField string // one of the Field constants
	Attribute string // LDAP attribute, e.g. mail, proxyAddresses, employeeNumber
}

func (r Rule) String() string { return r.ZoomField + "=" + r.Attribute }

// ParseRule parses "zoomField=attribute".
func ParseRule(s string) (Rule, error) {
	z, a, ok := strings.Cut(strings.TrimSpace(s), "=")
	r := Rule{ZoomField: strings.TrimSpace(z), Attribute: strings.TrimSpace(a)}
	if !ok || r.ZoomField == "" || r.Attribute == "" {
		return Rule{}, fmt.Errorf("rule %q: want zoomField=ldapAttribute", s)
	}
	switch r.ZoomField {
	case FieldEmail, FieldEmployeeUniqueID, FieldID, FieldExtension:
	default:
		return Rule{}, fmt.Errorf("rule %q: unknown Zoom field %q (email, employee_unique_id, id, extension)", s, r.ZoomField)
	}
	return r, nil
}

// Normalize returns the form in which a value of zoomField is compared,
// or "" when the value cannot match anything.
func Normalize(zoomField, v string) string {
	v = strings.TrimSpace(v)
	if zoomField == FieldEmail {
		// Active Directory proxyAddresses: "SMTP:primary@x", "smtp:alias@x",
		// "sip:user@x", "X500:/o=…". Only SMTP addresses are emails.
		if i := strings.IndexByte(v, ':'); i > 0 && (strings.IndexByte(v, '@') < 0 || i < strings.IndexByte(v, '@')) {
			if !strings.EqualFold(v[:i], "smtp") {
				return ""
			}
			v = strings.TrimSpace(v[i+1:])
		}
		if !strings.Contains(v, "@") {
			return ""
		}
	}
	return strings.ToLower(v)
}
