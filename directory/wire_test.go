package directory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// attr is one attribute of a SearchResultEntry built by entryOp.
type attr struct {
	name   string
	values []string
}

// entryOp encodes a SearchResultEntry's contents (what decode takes).
func entryOp(dn string, attrs ...attr) []byte {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "entry")
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "dn"))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attributes")
	for _, a := range attrs {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attribute")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.name, "type"))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "values")
		for _, v := range a.values {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, "value"))
		}
		pa.AppendChild(set)
		list.AppendChild(pa)
	}
	p.AppendChild(list)
	_, contents, _, err := tlv(p.Bytes())
	if err != nil {
		panic(err)
	}
	return contents
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// TestDecodeOddContent: nothing an entry holds crashes the reader or
// loses values. "more than 65,535 values" crashed zoomsync before values
// were positioned with 32 bits (slice bounds out of range in Values).
func TestDecodeOddContent(t *testing.T) {
	huge := strings.Repeat("x", 8<<20)
	binary := string([]byte{0, 1, 2, 0xff, 0xfe, '\n', 0})
	badUTF8 := "caf\xc3\x28 \xed\xa0\x80"
	longName := "X" + strings.Repeat("LongAttributeName", 5)
	cases := []struct {
		name  string
		dn    string
		attrs []attr
		want  map[string][]string // by snapshot attribute; absent: no values
	}{
		{"70,000 values in one attribute", "cn=big,dc=x", []attr{{"mail", []string{"a@x"}}, {"proxyAddresses", numbered("smtp:a", 70_000)}, {"uid", []string{"big"}}},
			map[string][]string{"mail": {"a@x"}, "proxyAddresses": numbered("smtp:a", 70_000), "uid": {"big"}}},
		{"70,000 values over several attributes, in the server's order", "cn=big2,dc=x",
			[]attr{{"uid", numbered("u", 40_000)}, {"proxyAddresses", numbered("p", 30_000)}, {"mail", numbered("m", 5)}},
			map[string][]string{"mail": numbered("m", 5), "proxyAddresses": numbered("p", 30_000), "uid": numbered("u", 40_000)}},
		{"huge value", "cn=huge,dc=x", []attr{{"mail", []string{huge}}}, map[string][]string{"mail": {huge}}},
		{"binary value", "cn=bin,dc=x", []attr{{"uid", []string{binary}}}, map[string][]string{"uid": {binary}}},
		{"invalid UTF-8", "cn=caf\xc3\x28,dc=x", []attr{{"mail", []string{badUTF8}}}, map[string][]string{"mail": {badUTF8}}},
		{"empty DN, no attributes", "", nil, nil},
		{"empty values", "cn=e,dc=x", []attr{{"mail", nil}, {"uid", []string{""}}}, map[string][]string{"uid": {""}}},
		{"attribute name over 64 bytes, any case", "cn=l,dc=x", []attr{{strings.ToUpper(longName), []string{"v"}}}, map[string][]string{longName: {"v"}}},
		{"objectGUID of the wrong length", "cn=g,dc=x", []attr{{"objectGUID", []string{"abc"}}, {"mail", []string{"g@x"}}}, map[string][]string{"mail": {"g@x"}}},
	}
	attrs := []string{"uid", "mail", "proxyAddresses", longName}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, flavor := range []Flavor{OpenLDAP, ActiveDirectory} {
				conv := newConverter(flavor, attrs, time.Now())
				e, err := conv.decode(entryOp(tc.dn, tc.attrs...))
				if err != nil {
					t.Fatalf("%s: %v", flavor, err)
				}
				if e.DN != tc.dn || e.ID == "" {
					t.Fatalf("%s: dn %q id %q", flavor, e.DN, e.ID)
				}
				var back Entry
				b, err := json.Marshal(e)
				if err == nil {
					err = json.Unmarshal(b, &back)
				}
				if err != nil {
					t.Fatal(err)
				}
				snap := &Snapshot{Attributes: attrs}
				for _, a := range attrs {
					if got := snap.Get(&e, a); !slices.Equal(got, tc.want[a]) {
						t.Fatalf("%s: %s has %d values, want %d", flavor, a, len(got), len(tc.want[a]))
					}
					if strings.Contains(tc.name, "UTF-8") {
						continue // JSON stores invalid UTF-8 as U+FFFD; the count is what matters
					}
					if got := snap.Get(&back, a); len(got) != len(tc.want[a]) {
						t.Fatalf("%s: %s after a JSON round trip: %d values, want %d", flavor, a, len(got), len(tc.want[a]))
					}
				}
			}
		})
	}
}

// TestDecodeMalformed: a truncated or inconsistent message is an error,
// never a panic or a silently short entry.
func TestDecodeMalformed(t *testing.T) {
	good := entryOp("cn=a,dc=x", attr{"mail", []string{"a@x", "b@x"}}, attr{"uid", []string{"a"}})
	conv := newConverter(OpenLDAP, []string{"mail", "uid"}, time.Now())
	for cut := 0; cut < len(good); cut++ {
		if _, err := conv.decode(good[:cut]); err == nil && cut < len(good) {
			// A cut that ends exactly after the DN and an empty attribute
			// list cannot happen here (the list is not empty); anything
			// shorter must fail.
			t.Fatalf("decode of %d of %d bytes succeeded", cut, len(good))
		}
	}
	bad := slices.Clone(good)
	bad[len(bad)-2] = 0x7f // the last value claims to be longer than its message
	if _, err := conv.decode(bad); err == nil {
		t.Fatal("inconsistent lengths decoded")
	}
}

// TestAccountExpires: an Active Directory account is disabled for the
// mapping when userAccountControl has ACCOUNTDISABLE or accountExpires
// (100 ns intervals since 1601) has passed; 0 and 0x7FFFFFFFFFFFFFFF mean
// never. AD's attributes; OpenLDAP entries never carry them.
func TestAccountExpires(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ft := func(t time.Time) string { return fmt.Sprint(t.UnixNano()/100 + filetimeUnixEpoch) }
	cases := []struct {
		uac, expires string
		disabled     bool
	}{
		{"512", "9223372036854775807", false},
		{"512", "0", false},
		{"512", ft(now.Add(time.Hour)), false},
		{"512", ft(now.Add(-time.Hour)), true},
		{"66048", ft(now.Add(-time.Hour)), true},
		{"514", "0", true},
		{"66050", "9223372036854775807", true},
		{"66048", "not a number", false},
		{"", "", false},
	}
	for _, tc := range cases {
		conv := newConverter(ActiveDirectory, []string{"mail"}, now)
		e, err := conv.decode(entryOp("cn=a,dc=x", attr{"userAccountControl", []string{tc.uac}}, attr{"accountExpires", []string{tc.expires}}))
		if err != nil {
			t.Fatal(err)
		}
		if e.Disabled != tc.disabled {
			t.Errorf("uac %s expires %s: disabled %v, want %v", tc.uac, tc.expires, e.Disabled, tc.disabled)
		}
		le := ldap.NewEntry("cn=a,dc=x", map[string][]string{"userAccountControl": {tc.uac}, "accountExpires": {tc.expires}})
		if got := conv.convert(le); got.Disabled != tc.disabled {
			t.Errorf("go-ldap path: uac %s expires %s: disabled %v, want %v", tc.uac, tc.expires, got.Disabled, tc.disabled)
		}
	}
}

// TestPeopleFilter: LDAP_GROUP_DN narrows the user filter to the group's
// members, nested ones on Active Directory (its in-chain matching rule),
// direct ones elsewhere; the DN is filter-escaped once.
func TestPeopleFilter(t *testing.T) {
	const dn = `CN=Zoom Users (EU)\, Sales,OU=Groups,DC=example,DC=test`
	c := Config{UserFilter: "(objectClass=user)", GroupDN: dn}
	if got, want := c.peopleFilter(ActiveDirectory), `(&(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=CN=Zoom Users \28EU\29\5c, Sales,OU=Groups,DC=example,DC=test))`; got != want {
		t.Errorf("AD: %s\nwant %s", got, want)
	}
	if got, want := c.peopleFilter(OpenLDAP), `(&(objectClass=user)(memberOf=CN=Zoom Users \28EU\29\5c, Sales,OU=Groups,DC=example,DC=test))`; got != want {
		t.Errorf("OpenLDAP: %s\nwant %s", got, want)
	}
	for _, f := range []Flavor{ActiveDirectory, OpenLDAP, Generic} {
		if _, err := ldap.CompileFilter(c.peopleFilter(f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if c.GroupDN = ""; c.peopleFilter(ActiveDirectory) != c.UserFilter {
		t.Error("without a group the user filter changed")
	}
	if _, err := New(Config{URL: "ldap://x", BaseDN: "dc=x", GroupDN: "not a dn"}, Options{}); !errs.Is(errs.Invalid, err) ||
		!strings.Contains(err.Error(), "LDAP_GROUP_DN") {
		t.Fatalf("bad group DN: %v", err)
	}
}

// TestInsecureSettingsWarn: a simple bind over ldap:// without StartTLS
// (the password in clear text) and LDAP_INSECURE_SKIP_VERIFY each log a
// warning when the directory is set up at start-up; safe settings log
// none. Nothing logged shows the password.
func TestInsecureSettingsWarn(t *testing.T) {
	const pw = "the-bind-password"
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"simple bind over plain ldap", Config{URL: "ldap://dc", BindDN: "svc@example.test", BindPassword: secret.New(pw)}, []string{"clear text"}},
		{"skip verify", Config{URL: "ldaps://dc", InsecureSkipVerify: true, BindDN: "svc", BindPassword: secret.New(pw)}, []string{"LDAP_INSECURE_SKIP_VERIFY"}},
		{"both", Config{URL: "ldap://dc", StartTLS: false, BindDN: "svc", BindPassword: secret.New(pw)}, []string{"clear text"}},
		{"starttls", Config{URL: "ldap://dc", StartTLS: true, BindDN: "svc", BindPassword: secret.New(pw)}, nil},
		{"ldaps", Config{URL: "ldaps://dc", BindDN: "svc", BindPassword: secret.New(pw)}, nil},
		{"anonymous over plain ldap", Config{URL: "ldap://dc"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.cfg.BaseDN = "dc=example,dc=test"
			if _, err := New(tc.cfg, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("logged %q, want %d warnings", buf.String(), len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], "level=WARN") || !strings.Contains(lines[i], w) {
					t.Errorf("line %q, want a warning about %s", lines[i], w)
				}
			}
			if strings.Contains(buf.String(), pw) {
				t.Fatal("the password was logged")
			}
		})
	}
}

// TestBindErrorsOneLine: a refused bind is one line saying why and what
// to set, with the kind Auth; Active Directory's reasons ("data 52e", …,
// its answer ends with a NUL) are spelled out.
func TestBindErrorsOneLine(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1\x00")),
			"wrong password or no such account (Active Directory data 52e)"},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 533, v3839\x00")),
			"the account is disabled"},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("")), "wrong LDAP_BIND_DN or LDAP_BIND_PASSWORD"},
		{ldap.NewError(ldap.LDAPResultStrongAuthRequired, errors.New("BindSimple: Transport encryption required.")),
			"requires TLS for a simple bind"},
	}
	for _, tc := range cases {
		err := classify("directory.connect", bindError("svc@example.test", tc.err))
		if errs.KindOf(err) != errs.Auth || !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\n\x00") {
			t.Errorf("%q (kind %v), want one line with %q", err, errs.KindOf(err), tc.want)
		}
	}
}

// TestReferenceURIs decodes the URIs of search continuation references
// and of a referral result.
func TestReferenceURIs(t *testing.T) {
	ref := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultReference, nil, "ref")
	for _, u := range []string{"ldap://example.test/CN=Configuration,DC=example,DC=test", "ldap://x/DC=DomainDnsZones,DC=example,DC=test"} {
		ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, u, "uri"))
	}
	_, op, _, _ := tlv(ref.Bytes())
	got, err := referenceURIs(op)
	if err != nil || len(got) != 2 || !strings.HasPrefix(got[0], "ldap://example.test/CN=Configuration") {
		t.Fatalf("%q %v", got, err)
	}
	done := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "done")
	done.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.LDAPResultReferral), "code"))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matched"))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "go elsewhere", "diag"))
	r := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "referral")
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "ldap://other.test/DC=other,DC=test", "uri"))
	done.AppendChild(r)
	_, op, _, _ = tlv(done.Bytes())
	if got := (message{op: op}).referrals(); !slices.Equal(got, []string{"ldap://other.test/DC=other,DC=test"}) {
		t.Fatalf("referrals %q", got)
	}
}

// TestEntryManyValues: an entry built or stored with more than 65,535
// values in one attribute keeps them all (values were positioned with 16
// bits: Values panicked with slice bounds out of range).
func TestEntryManyValues(t *testing.T) {
	many := numbered("smtp:a", 70_000)
	e := NewEntry("cn=a,dc=x", "id", false, [][]string{{"a"}, many, {"b"}})
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Entry{&e, &back} {
		if got := x.Values(1); len(got) != len(many) || got[69_999] != many[69_999] {
			t.Fatalf("%d values, want %d", len(got), len(many))
		}
		if got := x.Values(2); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("the next attribute: %q", got)
		}
	}
}
