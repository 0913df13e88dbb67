package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

var personAttrs = []string{"uid", "mail", "employeeNumber", "displayName"}

func serviceConfig(url string) Config {
	return Config{URL: url, BindDN: testserver.ServiceBindDN, BindPassword: secret.New(testserver.ServicePassword),
		BaseDN: testserver.UsersDN, PageSize: 100}
}

func newDirectory(t *testing.T, cfg Config, opts Options) *Directory {
	t.Helper()
	d, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ids(s *Snapshot) []string {
	out := make([]string, len(s.Entries))
	for i, e := range s.Entries {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

// quantiles cuts a snapshot's ids into n ranges of equal size, as
// SplitPoints does for directories large enough to gain from it.
func quantiles(s *Snapshot, n int) []string {
	sorted := ids(s)
	var out []string
	for i := 1; i < n; i++ {
		out = append(out, sorted[i*len(sorted)/n])
	}
	return out
}

// TestReadSlapd reads a generated directory with one search and with
// several over disjoint entryUUID ranges: both return every person once,
// with the asked attributes and a stable id.
func TestReadSlapd(t *testing.T) {
	const users = 1500
	s := testserver.StartSlapd(t, testserver.SlapdOptions{Users: users})
	ctx := context.Background()
	whole, err := newDirectory(t, serviceConfig(s.URL), Options{Connections: 1}).Read(ctx, personAttrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var snaps []*Snapshot
	for _, conns := range []int{1, 4, 7} {
		t.Run(strings.Repeat("c", conns), func(t *testing.T) {
			var splits []string
			if conns > 1 {
				splits = quantiles(whole, conns)
			}
			snap, err := newDirectory(t, serviceConfig(s.URL), Options{Connections: conns}).Read(ctx, personAttrs, splits)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Flavor != OpenLDAP {
				t.Errorf("flavor %q, want openldap", snap.Flavor)
			}
			if len(snap.Entries) != users {
				t.Fatalf("%d entries, want %d", len(snap.Entries), users)
			}
			byUID := map[string]*Entry{}
			for i := range snap.Entries {
				e := &snap.Entries[i]
				if len(e.ID) != 36 || strings.HasPrefix(e.ID, "dn:") {
					t.Fatalf("entry %s has id %q, want an entryUUID", e.DN, e.ID)
				}
				byUID[snap.First(e, "uid")] = e
			}
			p := testserver.PersonAt(42)
			e := byUID[p.UID]
			if e == nil || snap.First(e, "mail") != p.Mail || snap.First(e, "employeeNumber") != p.EmployeeNumber || e.DN != p.DN() {
				t.Fatalf("person 42: %+v", e)
			}
			snaps = append(snaps, snap)
		})
	}
	if len(snaps) == 3 && (!slices.Equal(ids(snaps[0]), ids(snaps[1])) || !slices.Equal(ids(snaps[0]), ids(snaps[2]))) {
		t.Fatal("split reads returned different entries than one search")
	}
}

func TestTLSModes(t *testing.T) {
	s := testserver.StartSlapd(t, testserver.SlapdOptions{Users: 20, TLS: true})
	ctx := context.Background()
	ldapURL := strings.Replace(s.URL, "127.0.0.1", "localhost", 1) // the certificate names localhost
	ldapsURL := strings.Replace(s.LDAPSURL, "127.0.0.1", "localhost", 1)
	cases := []struct {
		name     string
		mutate   func(*Config)
		wantKind errs.Kind // Other: success
	}{
		{"plain", func(c *Config) { c.URL = ldapURL }, errs.Other},
		{"starttls", func(c *Config) { c.URL, c.StartTLS, c.CAFile = ldapURL, true, s.TLS.CAFile }, errs.Other},
		{"ldaps", func(c *Config) { c.URL, c.CAFile = ldapsURL, s.TLS.CAFile }, errs.Other},
		{"ldaps untrusted CA", func(c *Config) { c.URL = ldapsURL }, errs.Auth},
		{"starttls untrusted CA", func(c *Config) { c.URL, c.StartTLS = ldapURL, true }, errs.Auth},
		{"ldaps skip verify (asked for)", func(c *Config) { c.URL, c.InsecureSkipVerify = ldapsURL, true }, errs.Other},
		{"wrong password", func(c *Config) { c.URL, c.BindPassword = ldapURL, secret.New("not-the-password") }, errs.Auth},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := serviceConfig("")
			tc.mutate(&cfg)
			d := newDirectory(t, cfg, Options{Attempts: 3})
			snap, err := d.Read(ctx, personAttrs, nil)
			if tc.wantKind == errs.Other {
				if err != nil || len(snap.Entries) != 20 {
					t.Fatalf("read: %v", err)
				}
				return
			}
			if got := errs.KindOf(err); got != tc.wantKind {
				t.Fatalf("error %v (kind %v), want kind %v", err, got, tc.wantKind)
			}
			if strings.Contains(err.Error(), "not-the-password") || strings.Contains(err.Error(), testserver.ServicePassword) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestBadConfiguration(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		expect string
	}{
		{"no url", Config{BaseDN: "dc=x"}, "LDAP_URL is empty"},
		{"scheme", Config{URL: "http://x", BaseDN: "dc=x"}, "scheme"},
		{"starttls on ldaps", Config{URL: "ldaps://x", StartTLS: true, BaseDN: "dc=x"}, "LDAP_START_TLS"},
		{"no base", Config{URL: "ldap://x"}, "LDAP_BASE_DN is empty"},
		{"bad base", Config{URL: "ldap://x", BaseDN: "not a dn"}, "LDAP_BASE_DN"},
		{"bad filter", Config{URL: "ldap://x", BaseDN: "dc=x", UserFilter: "(objectClass=person"}, "LDAP_USER_FILTER"},
		{"missing CA", Config{URL: "ldaps://x", BaseDN: "dc=x", CAFile: "/nonexistent/ca.pem"}, "LDAP_CA_FILE"},
		{"CA without TLS", Config{URL: "ldap://x", BaseDN: "dc=x", CAFile: "/etc/hostname"}, "not TLS"},
		{"password without DN", Config{URL: "ldap://x", BaseDN: "dc=x", BindPassword: secret.New("p")}, "LDAP_BIND_DN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, Options{})
			if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), tc.expect) {
				t.Fatalf("got %v, want an invalid-configuration error mentioning %q", err, tc.expect)
			}
		})
	}
	t.Run("CA file without certificates", func(t *testing.T) {
		_, err := New(Config{URL: "ldaps://x", BaseDN: "dc=x", CAFile: "/etc/hostname"}, Options{})
		if !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), "no PEM certificates") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestSlapdStoppedMidRead stops slapd after the first page: the read fails
// and returns nothing (never a partial directory); once slapd is back, a
// read returns everyone.
func TestSlapdStoppedMidRead(t *testing.T) {
	const users = 3000
	s := testserver.StartSlapd(t, testserver.SlapdOptions{Users: users})
	d := newDirectory(t, serviceConfig(s.URL), Options{Connections: 1, Attempts: 2})
	var once sync.Once
	d.afterPage = func(int) { once.Do(s.Stop) }
	snap, err := d.Read(context.Background(), personAttrs, nil)
	if err == nil || snap != nil {
		t.Fatalf("read with slapd stopped mid-way returned %v entries and error %v", snap, err)
	}
	if !errs.Retryable(err) {
		t.Fatalf("error %v (kind %v) should be retryable", err, errs.KindOf(err))
	}
	s.Restart()
	d.afterPage = nil
	snap, err = d.Read(context.Background(), personAttrs, nil)
	if err != nil || len(snap.Entries) != users {
		t.Fatalf("after restart: %v", err)
	}
}

// TestActiveDirectoryPageCap: a server that caps pages at 1000 (as AD does)
// refuses a larger page; the read falls back to 1000 and returns everyone.
func TestActiveDirectoryPageCap(t *testing.T) {
	const users = 2500
	s := testserver.StartSlapd(t, testserver.SlapdOptions{Users: users, ADLimits: true})
	for _, page := range []int{500, 1000, 5000} {
		cfg := serviceConfig(s.URL)
		cfg.PageSize = page
		snap, err := newDirectory(t, cfg, Options{Connections: 1}).Read(context.Background(), personAttrs, nil)
		if err != nil || len(snap.Entries) != users {
			t.Fatalf("page size %d: %v", page, err)
		}
	}
}

// TestLookupEscapesFilterValues: a Zoom email crafted to widen the filter
// matches nothing; ordinary and odd-but-legal values work.
func TestLookupEscapesFilterValues(t *testing.T) {
	s := testserver.StartSlapd(t, testserver.SlapdOptions{Users: 50})
	d := newDirectory(t, serviceConfig(s.URL), Options{})
	ctx := context.Background()
	p := testserver.PersonAt(7)
	cases := []struct {
		value string
		want  int
	}{
		{p.Mail, 1},
		{strings.ToUpper(p.Mail), 1}, // mail matches case-insensitively (caseIgnoreIA5Match)
		{"*)(uid=*", 0},
		{"*", 0},
		{p.Mail + ")(|(uid=*", 0},
		{`\2a`, 0},
		{"a(b)c*\\d\x00e", 0},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			snap, err := d.Lookup(ctx, personAttrs, "mail", tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Entries) != tc.want {
				t.Fatalf("%d entries for %q, want %d", len(snap.Entries), tc.value, tc.want)
			}
		})
	}
	if _, err := d.Lookup(ctx, personAttrs, "mail)(uid=*", "x"); !errs.Is(errs.Invalid, err) {
		t.Fatalf("attribute name with filter syntax: %v", err)
	}
}

// TestSplitPoints: split points cut a large OpenLDAP directory into ranges
// of equal size, and are nil where a split read cannot or should not be
// used; splits that are not ascending UUIDs are ignored (one search).
func TestSplitPoints(t *testing.T) {
	big := &Snapshot{Flavor: OpenLDAP}
	for i := range 8000 {
		// Time-based UUIDs share their first digits: ranges must come from
		// the ids, not from the UUID space.
		big.Entries = append(big.Entries, Entry{ID: fmt.Sprintf("6f%06x-825a-1041-9592-db7da36b1971", i*7919%8000)})
	}
	small := &Snapshot{Flavor: OpenLDAP, Entries: big.Entries[:100]}
	ad := &Snapshot{Flavor: ActiveDirectory, Entries: big.Entries}
	for _, tc := range []struct {
		name  string
		conns int
		snap  *Snapshot
		want  []string
	}{
		{"two ranges", 2, big, []string{"6f000fa0-825a-1041-9592-db7da36b1971"}},
		{"four ranges", 4, big, []string{"6f0007d0-825a-1041-9592-db7da36b1971", "6f000fa0-825a-1041-9592-db7da36b1971", "6f001770-825a-1041-9592-db7da36b1971"}},
		{"one connection", 1, big, nil},
		{"small directory", 4, small, nil},
		{"active directory", 4, ad, nil},
		{"no snapshot", 4, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDirectory(t, serviceConfig("ldap://127.0.0.1:1"), Options{Connections: tc.conns})
			if got := d.SplitPoints(tc.snap); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		splits []string
		ok     bool
	}{
		{[]string{"6f000fa0-825a-1041-9592-db7da36b1971"}, true},
		{[]string{"6f000fa0-825a-1041-9592-db7da36b1971", "6f0007d0-825a-1041-9592-db7da36b1971"}, false}, // descending
		{[]string{"6f000fa0-825a-1041-9592-db7da36b1971", "6f000fa0-825a-1041-9592-db7da36b1971"}, false}, // repeated
		{[]string{"*)(uid=*"}, false},
		{[]string{"6F000FA0-825A-1041-9592-DB7DA36B1971"}, false}, // not as the server writes them
		{nil, false},
	} {
		if got := validSplits(tc.splits); got != tc.ok {
			t.Errorf("validSplits(%q) = %v, want %v", tc.splits, got, tc.ok)
		}
	}
}
