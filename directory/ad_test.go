package directory

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// The directory tests run against Samba's Active Directory as well as
// slapd: one DC for the package (provisioning costs ~8 CPU-seconds),
// started by the first test that needs it and stopped by TestMain.
var ad struct {
	once sync.Once
	dc   *testserver.Samba
	err  error
}

// adPeople generated people: more than AD's 1,000-entry page.
const adPeople = 1200

// adGroupMembers are the generated people put straight into Zoom Users.
var adGroupMembers = []int{1, 2, 3, 4, 5}

func sharedAD(t *testing.T) *testserver.Samba {
	t.Helper()
	ad.once.Do(func() {
		ldif, err := os.ReadFile("testdata/ad.ldif")
		if err != nil {
			ad.err = err
			return
		}
		// The fixture ends with the Zoom Users group: add generated members.
		var b strings.Builder
		b.Write(bytes.TrimRight(ldif, "\n"))
		for _, i := range adGroupMembers {
			fmt.Fprintf(&b, "\nmember: %s", testserver.ADPersonAt(i).DN)
		}
		ad.dc, ad.err = testserver.LaunchSamba(testserver.SambaOptions{Users: adPeople, LDIF: b.String()})
	})
	if ad.err != nil {
		t.Fatalf("samba: %v", ad.err)
	}
	return ad.dc
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ad.dc != nil {
		ad.dc.Stop()
	}
	os.Exit(code)
}

// adConfig is the configuration docs/OPERATIONS.md gives for Active
// Directory: the domain root as base, StartTLS with the DC's CA, a UPN
// bind, people by objectCategory and objectClass.
func adConfig(dc *testserver.Samba) Config {
	return Config{URL: dc.URL, StartTLS: true, CAFile: dc.TLS.CAFile, BindDN: testserver.ADServiceUPN,
		BindPassword: secret.New(testserver.ADServicePassword), BaseDN: testserver.ADBaseDN,
		UserFilter: testserver.ADPeopleFilter, PageSize: 1000}
}

// adAttrs are what the tests read (AD's names).
var adAttrs = []string{"sAMAccountName", "mail", "proxyAddresses", "userPrincipalName", "employeeID", "employeeNumber",
	"telephoneNumber", "ipPhone", "displayName"}

func bySAM(s *Snapshot) map[string]*Entry {
	out := map[string]*Entry{}
	for i := range s.Entries {
		out[s.First(&s.Entries[i], "sAMAccountName")] = &s.Entries[i]
	}
	return out
}

// fixturePeople are the user objects of testdata/ad.ldif; AD's own
// accounts (Administrator, Guest, krbtgt, the DC's dns-… account) and the
// service account are people too.
var fixturePeople = []string{"jsmith", "zangstrom", "ddisabled", "dandisabled", "nnoexpire", "eexpired"}

// TestADDomainRoot reads Active Directory with LDAP_BASE_DN at the domain
// root: AD answers with the people plus a search continuation reference
// to CN=Configuration (Windows adds DomainDnsZones and ForestDnsZones).
// The references are skipped and logged, every person is read, past a
// 1,000-entry page. Before, the whole read failed with "the server
// referred elsewhere".
func TestADDomainRoot(t *testing.T) {
	dc := sharedAD(t)
	for _, page := range []int{500, 1000, 5000} {
		t.Run(fmt.Sprint("page ", page), func(t *testing.T) {
			var logs bytes.Buffer
			cfg := adConfig(dc)
			cfg.PageSize = page
			d := newDirectory(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Attempts: 1})
			snap, err := d.Read(context.Background(), adAttrs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Flavor != ActiveDirectory {
				t.Fatalf("flavor %s", snap.Flavor)
			}
			people := bySAM(snap)
			for i := 1; i <= adPeople; i++ {
				p := testserver.ADPersonAt(i)
				e := people[p.SAM]
				if e == nil {
					t.Fatalf("person %d (%s) not read", i, p.DN)
				}
				// The link id is objectGUID, formatted as AD shows it.
				if e.ID != p.GUID || e.DN != p.DN || e.Disabled != p.Disabled() {
					t.Fatalf("person %d: id %s dn %s disabled %v, want %s %s %v", i, e.ID, e.DN, e.Disabled, p.GUID, p.DN, p.Disabled())
				}
			}
			for _, sam := range append(slices.Clone(fixturePeople), "Administrator", "svc-zoomsync") {
				if people[sam] == nil {
					t.Errorf("%s not read", sam)
				}
			}
			// Contacts, computers, managed service accounts and groups are
			// not people.
			for _, sam := range []string{"", "WS0001$", "msa-backup$", "zoom-users"} {
				if people[sam] != nil {
					t.Errorf("%q read as a person: %s", sam, people[sam].DN)
				}
			}
			if !strings.Contains(logs.String(), "skipped search continuation references") || !strings.Contains(logs.String(), "CN=Configuration,DC=example,DC=test") {
				t.Fatalf("the skipped references are not logged: %s", logs.String())
			}
		})
	}
}

// TestADAttributes: AD's values as zoomsync sees them: proxyAddresses
// with every prefix (mapping keeps the SMTP ones), DNs with an escaped
// comma and UTF-8, employeeID / employeeNumber, ipPhone for extensions,
// and the disabled flag from userAccountControl (with and without
// DONT_EXPIRE_PASSWORD) or a past accountExpires.
func TestADAttributes(t *testing.T) {
	dc := sharedAD(t)
	snap, err := newDirectory(t, adConfig(dc), Options{}).Read(context.Background(), adAttrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	people := bySAM(snap)
	jane := people["jsmith"]
	if jane == nil || jane.DN != `CN=Smith\, Jane,OU=Sales,OU=Staff,DC=example,DC=test` {
		t.Fatalf("escaped comma: %+v", jane)
	}
	if got := snap.Get(jane, "proxyAddresses"); len(got) != 4 || !slices.Contains(got, "SMTP:jane.smith@example.test") || !slices.Contains(got, "smtp:jsmith@example.test") {
		t.Errorf("proxyAddresses %q", got)
	}
	if snap.First(jane, "employeeID") != "E9001" || snap.First(jane, "ipPhone") != "9001" || snap.First(jane, "userPrincipalName") != "jsmith@example.test" {
		t.Errorf("jane: employeeID %q ipPhone %q upn %q", snap.First(jane, "employeeID"), snap.First(jane, "ipPhone"), snap.First(jane, "userPrincipalName"))
	}
	zoe := people["zangstrom"]
	if zoe == nil || zoe.DN != "CN=Zoë Ångström,OU=EMEA,OU=Sales,OU=Staff,DC=example,DC=test" || snap.First(zoe, "displayName") != "Zoë Ångström" ||
		snap.First(zoe, "employeeNumber") != "9002" {
		t.Fatalf("UTF-8: %+v", zoe)
	}
	for sam, disabled := range map[string]bool{"jsmith": false, "ddisabled": true, "dandisabled": true, "nnoexpire": false, "eexpired": true,
		"Guest": true, "krbtgt": true, "Administrator": false} {
		if e := people[sam]; e == nil || e.Disabled != disabled {
			t.Errorf("%s: %+v, want disabled %v", sam, e, disabled)
		}
	}
	for _, e := range snap.Entries {
		if len(e.ID) != 36 || strings.HasPrefix(e.ID, "dn:") {
			t.Fatalf("%s: id %q is not an objectGUID", e.DN, e.ID)
		}
	}
}

// TestADBinds: the ways customers bind to AD (UPN, DOMAIN\user, DN), over
// StartTLS, LDAPS and the Global Catalog ports; and AD's refusals, each
// answered with one line that says what to set: a wrong password (AD's
// "data 52e") and a simple bind without TLS (AD's default "strong auth
// required"; slapd accepts it).
func TestADBinds(t *testing.T) {
	dc := sharedAD(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		mutate func(*Config)
		kind   errs.Kind // Other: success
		want   string
	}{
		{"UPN, StartTLS", func(c *Config) {}, errs.Other, ""},
		{`DOMAIN\user, LDAPS`, func(c *Config) { c.URL, c.StartTLS, c.BindDN = dc.LDAPSURL, false, testserver.ADServiceNT }, errs.Other, ""},
		{"DN, StartTLS", func(c *Config) { c.BindDN = testserver.ADServiceDN }, errs.Other, ""},
		{"Global Catalog, StartTLS", func(c *Config) { c.URL = dc.GCURL }, errs.Other, ""},
		{"Global Catalog, LDAPS", func(c *Config) { c.URL, c.StartTLS = dc.GCSURL, false }, errs.Other, ""},
		{"wrong password", func(c *Config) { c.BindPassword = secret.New("not-the-password") }, errs.Auth, "wrong password or no such account (Active Directory data 52e)"},
		{"no such account", func(c *Config) { c.BindDN = "nobody@example.test" }, errs.Auth, "Active Directory data 52e"},
		{"plain bind without TLS", func(c *Config) { c.StartTLS, c.CAFile = false, "" }, errs.Auth, "requires TLS for a simple bind"},
		{"untrusted certificate", func(c *Config) { c.CAFile = "" }, errs.Auth, "LDAP_CA_FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := adConfig(dc)
			tc.mutate(&cfg)
			snap, err := newDirectory(t, cfg, Options{Attempts: 2}).Read(ctx, []string{"mail"}, nil)
			if tc.kind == errs.Other {
				if err != nil {
					t.Fatal(err)
				}
				if len(snap.Entries) < adPeople {
					t.Fatalf("%d entries", len(snap.Entries))
				}
				return
			}
			if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\n\x00") {
				t.Fatalf("error %q (kind %v), want one line of kind %v with %q", err, errs.KindOf(err), tc.kind, tc.want)
			}
			if strings.Contains(err.Error(), "not-the-password") || strings.Contains(err.Error(), testserver.ADServicePassword) {
				t.Fatal("the error shows the password")
			}
		})
	}
}

// TestADGlobalCatalog: the Global Catalog (port 3268, StartTLS) reads the
// same people with the domain root as base, with the attributes of its
// partial attribute set (mail, proxyAddresses, userPrincipalName, …).
// Samba answers the Global Catalog with every attribute; a Windows Global
// Catalog only with those of the partial attribute set.
func TestADGlobalCatalog(t *testing.T) {
	dc := sharedAD(t)
	cfg := adConfig(dc)
	cfg.URL = dc.GCURL
	snap, err := newDirectory(t, cfg, Options{}).Read(context.Background(), adAttrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	jane := bySAM(snap)["jsmith"]
	if jane == nil || snap.First(jane, "mail") != "jane.smith@example.test" || len(snap.Get(jane, "proxyAddresses")) != 4 ||
		snap.First(jane, "userPrincipalName") != "jsmith@example.test" {
		t.Fatalf("jane over the Global Catalog: %+v", jane)
	}
	if len(snap.Entries) < adPeople {
		t.Fatalf("%d entries", len(snap.Entries))
	}
}

// TestADGroupScope: LDAP_GROUP_DN reads only the group's members, at any
// depth of nesting (AD's in-chain matching rule): direct members, members
// of a nested group and of a group nested in that one; not the contact in
// a nested group, not the nested groups themselves. A group that does not
// exist is a configuration error, not an empty directory.
func TestADGroupScope(t *testing.T) {
	dc := sharedAD(t)
	cases := []struct {
		group string
		want  []string
	}{
		{"CN=Zoom Users,OU=Groups,DC=example,DC=test", []string{"ddisabled", "jsmith", "u0000001", "u0000002", "u0000003", "u0000004", "u0000005", "zangstrom"}},
		{"CN=Zoom Users (Sales),OU=Groups,DC=example,DC=test", []string{"jsmith", "zangstrom"}},
		{"cn=zoom users - emea,ou=groups,dc=example,dc=test", []string{"zangstrom"}}, // DNs compare case-insensitively
	}
	for _, tc := range cases {
		t.Run(tc.group, func(t *testing.T) {
			cfg := adConfig(dc)
			cfg.GroupDN = tc.group
			d := newDirectory(t, cfg, Options{})
			snap, err := d.Read(context.Background(), adAttrs, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := range snap.Entries {
				got = append(got, snap.First(&snap.Entries[i], "sAMAccountName"))
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("members %q, want %q", got, tc.want)
			}
			// Lookups are scoped the same way.
			one, err := d.Lookup(context.Background(), adAttrs, "mail", "zoe.angstrom@example.test")
			if err != nil || len(one.Entries) != 1 {
				t.Fatalf("lookup of a member: %v", err)
			}
			none, err := d.Lookup(context.Background(), adAttrs, "mail", testserver.ADPersonAt(900).Mail)
			if err != nil || len(none.Entries) != 0 {
				t.Fatalf("lookup of a non-member: %v %d", err, len(none.Entries))
			}
		})
	}
	cfg := adConfig(dc)
	cfg.GroupDN = "CN=Zoom Userz,OU=Groups,DC=example,DC=test"
	if _, err := newDirectory(t, cfg, Options{}).Read(context.Background(), adAttrs, nil); !errs.Is(errs.Invalid, err) ||
		!strings.Contains(err.Error(), "LDAP_GROUP_DN") {
		t.Fatalf("a group that does not exist: %v", err)
	}
}

// TestADOtherDomain: a base DN the DC does not hold fails with one line
// naming LDAP_BASE_DN, not as an empty directory.
func TestADOtherDomain(t *testing.T) {
	dc := sharedAD(t)
	cfg := adConfig(dc)
	cfg.BaseDN = "DC=other,DC=test"
	_, err := newDirectory(t, cfg, Options{Attempts: 1}).Read(context.Background(), adAttrs, nil)
	// Samba answers noSuchObject; a Windows DC refers the search to the
	// other domain (result 10), which reads the same way.
	if err == nil || errs.Retryable(err) || !strings.Contains(err.Error(), `LDAP_BASE_DN "DC=other,DC=test"`) {
		t.Fatalf("%v (kind %v)", err, errs.KindOf(err))
	}
}
