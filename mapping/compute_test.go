package mapping

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/directory"
)

var testAttrs = []string{"mail", "mailAlternateAddress", "employeeNumber", "proxyAddresses"}

// entry describes a directory entry: id, then attribute=value pairs
// ("mail=a@x", "proxyAddresses=SMTP:a@x"); "disabled" marks it disabled.
func entry(id string, kv ...string) directory.Entry {
	values := make([][]string, len(testAttrs))
	disabled := false
	for _, s := range kv {
		if s == "disabled" {
			disabled = true
			continue
		}
		a, v, _ := strings.Cut(s, "=")
		i := slices.Index(testAttrs, a)
		values[i] = append(values[i], v)
	}
	return directory.NewEntry("uid="+id+",ou=people,dc=example,dc=com", id, disabled, values)
}

func snapshot(entries ...directory.Entry) *directory.Snapshot {
	return &directory.Snapshot{Flavor: directory.OpenLDAP, Attributes: testAttrs, Entries: entries}
}

// user is a Zoom user of account A with an email, and optional
// "employee_unique_id=…", "link=ENTRY/RULE", "status=…".
func user(key, email string, extra ...string) User {
	u := User{Account: "A", Key: key, Email: email, Status: "active"}
	for _, s := range extra {
		k, v, _ := strings.Cut(s, "=")
		switch k {
		case "link":
			id, rule, _ := strings.Cut(v, "/")
			u.Link = Link{EntryID: id, Rule: rule}
		case "status":
			u.Status = v
		case "account":
			u.Account = v
		case FieldEmployeeUniqueID:
			u.EmployeeUniqueID = v
		default:
			panic("user(): unknown " + k)
		}
	}
	return u
}

// summary renders a Result compactly: "key->entry(rule)" links, "?key"
// unmatched users, "!entry" unmatched entries, "X[keys|entries]" conflicts,
// "D:key->entry" disabled-but-active.
func summary(snap *directory.Snapshot, r *Result) string {
	var out []string
	for _, l := range r.Links {
		out = append(out, fmt.Sprintf("%s->%s(%s)", l.User.Key, snap.Entries[l.Entry].ID, l.Rule))
	}
	for _, u := range r.UnmatchedUsers {
		out = append(out, "?"+u.Key)
	}
	for _, e := range r.UnmatchedEntries {
		out = append(out, "!"+snap.Entries[e].ID)
	}
	for _, c := range r.Conflicts {
		var keys, ids []string
		for _, u := range c.Users {
			keys = append(keys, u.Key)
		}
		for _, dn := range c.Entries {
			ids = append(ids, strings.TrimPrefix(strings.Split(dn, ",")[0], "uid="))
		}
		out = append(out, fmt.Sprintf("X[%s|%s]", strings.Join(keys, ","), strings.Join(ids, ",")))
	}
	for _, l := range r.DisabledActive {
		out = append(out, fmt.Sprintf("D:%s->%s", l.User.Key, snap.Entries[l.Entry].ID))
	}
	return strings.Join(out, " ")
}

func rules(s string) []Rule {
	var out []Rule
	for _, p := range strings.Split(s, ",") {
		r, err := ParseRule(p)
		if err != nil {
			panic(err)
		}
		out = append(out, r)
	}
	return out
}

func TestCompute(t *testing.T) {
	cases := []struct {
		name    string
		rules   string
		users   []User
		entries []directory.Entry
		want    string
	}{
		{"email matches mail", "email=mail",
			[]User{user("z1", "ada@example.com")},
			[]directory.Entry{entry("e1", "mail=ada@example.com")},
			"z1->e1(email=mail)"},
		{"case and whitespace differences", "email=mail",
			[]User{user("z1", "  Ada.Lovelace@Example.COM ")},
			[]directory.Entry{entry("e1", "mail=ada.lovelace@EXAMPLE.com")},
			"z1->e1(email=mail)"},
		{"multi-valued alias", "email=mail,email=mailAlternateAddress",
			[]User{user("z1", "al@example.com")},
			[]directory.Entry{entry("e1", "mail=ada@example.com", "mailAlternateAddress=lovelace@example.com", "mailAlternateAddress=al@example.com")},
			"z1->e1(email=mailAlternateAddress)"},
		{"rules in order: the first that matches decides", "email=mail,employee_unique_id=employeeNumber",
			[]User{user("z1", "ada@example.com", "employee_unique_id=7")},
			[]directory.Entry{entry("e1", "mail=ada@example.com"), entry("e2", "employeeNumber=7")},
			"z1->e1(email=mail) !e2"},
		{"falls through to the next rule", "email=mail,employee_unique_id=employeeNumber",
			[]User{user("z1", "new.hire@example.com", "employee_unique_id=7")},
			[]directory.Entry{entry("e1", "mail=ada@example.com"), entry("e2", "employeeNumber=7")},
			"z1->e2(employee_unique_id=employeeNumber) !e1"},
		{"Active Directory proxyAddresses", "email=proxyAddresses",
			[]User{user("z1", "ADA@example.com"), user("z2", "alias2@example.com"), user("z3", "sipuser@example.com")},
			[]directory.Entry{
				entry("e1", "proxyAddresses=SMTP:ada@example.com", "proxyAddresses=smtp:ADA@example.com"),
				entry("e2", "proxyAddresses=sip:sipuser@example.com", "proxyAddresses=X500:/o=Example/cn=sip"),
				entry("e3", "proxyAddresses=SMTP:grace@example.com", "proxyAddresses=smtp:alias2@example.com"),
			},
			"z1->e1(email=proxyAddresses) z2->e3(email=proxyAddresses) ?z3 !e2"},
		{"one user, several entries: conflict, not a guess", "email=mail",
			[]User{user("z1", "shared@example.com")},
			[]directory.Entry{entry("e1", "mail=shared@example.com"), entry("e2", "mail=Shared@example.com")},
			"X[z1|e1,e2]"},
		{"several users, one entry: conflict", "email=mail",
			[]User{user("z1", "ada@example.com"), user("z2", "ada@example.com", "account=B")},
			[]directory.Entry{entry("e1", "mail=ada@example.com")},
			"X[z1,z2|e1]"},
		{"Zoom email changed: the link survives", "email=mail",
			[]User{user("z1", "ada.king@example.com", "link=e1/email=mail")},
			[]directory.Entry{entry("e1", "mail=ada@example.com")},
			"z1->e1(email=mail)"},
		{"directory email changed: the link survives", "email=mail",
			[]User{user("z1", "ada@example.com", "link=e1/email=mail")},
			[]directory.Entry{entry("e1", "mail=ada.king@example.com")},
			"z1->e1(email=mail)"},
		{"both sides changed alike: kept, rule refreshed", "email=mail,employee_unique_id=employeeNumber",
			[]User{user("z1", "ada.king@example.com", "link=e1/employee_unique_id=employeeNumber")},
			[]directory.Entry{entry("e1", "mail=ada.king@example.com")},
			"z1->e1(email=mail)"},
		{"email reassigned to another Zoom user: conflict for both", "email=mail",
			[]User{user("x", "x2@example.com", "link=e1/email=mail"), user("y", "ada@example.com")},
			[]directory.Entry{entry("e1", "mail=ada@example.com")},
			"X[x,y|e1]"},
		{"rules now point elsewhere than the link: conflict", "email=mail",
			[]User{user("z1", "grace@example.com", "link=e1/email=mail")},
			[]directory.Entry{entry("e1", "mail=ada@example.com"), entry("e2", "mail=grace@example.com")},
			"X[z1|e1,e2]"},
		{"linked entry left the directory: relinked by rules", "email=mail",
			[]User{user("z1", "ada@example.com", "link=gone/email=mail"), user("z2", "nobody@example.com", "link=gone2/email=mail")},
			[]directory.Entry{entry("e1", "mail=ada@example.com")},
			"z1->e1(email=mail) ?z2"},
		{"deleted Zoom users take no part", "email=mail",
			[]User{user("old", "ada@example.com", "status=deleted"), user("new", "ada@example.com")},
			[]directory.Entry{entry("e1", "mail=ada@example.com")},
			"new->e1(email=mail)"},
		{"disabled entry, active user: the deprovisioning gap", "email=mail",
			[]User{user("z1", "ada@example.com"), user("z2", "bob@example.com", "status=inactive")},
			[]directory.Entry{entry("e1", "mail=ada@example.com", "disabled"), entry("e2", "mail=bob@example.com", "disabled"), entry("e3", "disabled")},
			"z1->e1(email=mail) z2->e2(email=mail) D:z1->e1"},
		{"unmatched both ways", "email=mail",
			[]User{user("z1", "contractor@partner.com"), user("z2", "")},
			[]directory.Entry{entry("e1", "mail=ada@example.com"), entry("e2")},
			"?z1 ?z2 !e1 !e2"},
		{"employee id compared as text, case-insensitively", "employee_unique_id=employeeNumber",
			[]User{user("z1", "", "employee_unique_id= ab-12 ")},
			[]directory.Entry{entry("e1", "employeeNumber=AB-12")},
			"z1->e1(employee_unique_id=employeeNumber)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := snapshot(tc.entries...)
			res := Compute(rules(tc.rules), tc.users, snap)
			got := summary(snap, res)
			counts := map[State]int{}
			for i, o := range res.Of {
				counts[o.State]++
				if o.State == Matched && !slices.ContainsFunc(res.Links, func(l Linked) bool { return l.User.Key == tc.users[i].Key && l.Entry == o.Entry }) {
					t.Errorf("Of[%d] says matched to %d, Links disagree", i, o.Entry)
				}
			}
			inConflict := map[string]bool{}
			for _, c := range res.Conflicts {
				for _, u := range c.Users {
					inConflict[u.Account+"/"+u.Key] = true
				}
			}
			if counts[Matched] != len(res.Links) || counts[Unmatched] != len(res.UnmatchedUsers) || counts[Conflicted] != len(inConflict) {
				t.Errorf("outcomes %v disagree with the lists", counts)
			}
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct{ field, in, want string }{
		{FieldEmail, " Ada@Example.COM ", "ada@example.com"},
		{FieldEmail, "SMTP:Ada@Example.com", "ada@example.com"},
		{FieldEmail, "smtp:alias@example.com", "alias@example.com"},
		{FieldEmail, "sip:ada@example.com", ""},
		{FieldEmail, "X500:/o=Example/ou=Exchange/cn=ada", ""},
		{FieldEmail, "not-an-email", ""},
		{FieldEmail, "*)(uid=*", ""},
		{FieldEmployeeUniqueID, " E-7 ", "e-7"},
		{FieldExtension, "1001", "1001"},
		{FieldEmail, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.field+"/"+tc.in, func(t *testing.T) {
			if got := Normalize(tc.field, tc.in); got != tc.want {
				t.Fatalf("Normalize(%q, %q) = %q, want %q", tc.field, tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	for _, bad := range []string{"", "email", "=mail", "email=", "phone=telephoneNumber"} {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
	if r, err := ParseRule(" email = mail "); err != nil || r.String() != "email=mail" {
		t.Fatalf("%v %v", r, err)
	}
}
