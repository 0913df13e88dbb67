package dirfake

import (
	"context"
	"slices"
	"testing"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/people"
	"github.com/zoomsync/zoomsync/internal/secret"
)

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func client(t *testing.T, s *Server, page, conns int, password string) *directory.Directory {
	t.Helper()
	d, err := directory.New(directory.Config{URL: s.URL(), BindDN: people.ServiceBindDN, BindPassword: secret.New(password),
		BaseDN: people.UsersDN, PageSize: page}, directory.Options{Connections: conns, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var attrs = []string{"uid", "mail", "employeeNumber"}

// quantiles cuts a snapshot's ids into n ranges of equal size (what
// directory.SplitPoints does for large directories).
func quantiles(s *directory.Snapshot, n int) []string {
	ids := make([]string, len(s.Entries))
	for i, e := range s.Entries {
		ids[i] = e.ID
	}
	slices.Sort(ids)
	var out []string
	for i := 1; i < n; i++ {
		out = append(out, ids[i*len(ids)/n])
	}
	return out
}

// TestTheDirectoryClientAgainstTheFake runs the production client against
// the fake as it runs against slapd: paged and split reads, the page cap,
// escaped lookups, bad credentials.
func TestTheDirectoryClientAgainstTheFake(t *testing.T) {
	ctx := context.Background()
	s := start(t, Options{People: 2100, PageCap: 1000})
	for _, tc := range []struct{ page, conns int }{{500, 1}, {1000, 4}, {5000, 1}} {
		var splits []string
		if tc.conns > 1 {
			whole, err := client(t, s, tc.page, 1, people.ServicePassword).Read(ctx, attrs, nil)
			if err != nil {
				t.Fatal(err)
			}
			splits = quantiles(whole, tc.conns)
		}
		snap, err := client(t, s, tc.page, tc.conns, people.ServicePassword).Read(ctx, attrs, splits)
		if err != nil {
			t.Fatalf("page %d conns %d: %v", tc.page, tc.conns, err)
		}
		if len(snap.Entries) != 2100 || snap.Flavor != directory.OpenLDAP {
			t.Fatalf("page %d conns %d: %d entries, flavor %s", tc.page, tc.conns, len(snap.Entries), snap.Flavor)
		}
		p := people.At(42)
		i := slices.IndexFunc(snap.Entries, func(e directory.Entry) bool { return e.DN == p.DN() })
		if i < 0 || snap.First(&snap.Entries[i], "mail") != p.Mail || len(snap.Entries[i].ID) != 36 {
			t.Fatalf("page %d conns %d: person 42 missing or wrong (%d)", tc.page, tc.conns, i)
		}
	}
	d := client(t, s, 100, 1, people.ServicePassword)
	for _, tc := range []struct {
		value string
		want  int
	}{{people.At(7).Mail, 1}, {"ALAN.LOVELACE.1@EXAMPLE.COM", 1}, {"*)(uid=*", 0}, {"*", 0}} {
		snap, err := d.Lookup(ctx, attrs, "mail", tc.value)
		if err != nil || len(snap.Entries) != tc.want {
			t.Fatalf("lookup %q: %v, %v", tc.value, snap, err)
		}
	}
	if _, err := client(t, s, 100, 1, "wrong").Read(ctx, attrs, nil); !errs.Is(errs.Auth, err) {
		t.Fatalf("wrong password: %v", err)
	}
	s.Remove(people.At(1).DN())
	s.Put(Entry{DN: "uid=new,ou=people,dc=example,dc=com", Attributes: map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {"new"}}})
	snap, err := d.Read(ctx, attrs, nil)
	if err != nil || len(snap.Entries) != 2100 {
		t.Fatalf("after changes: %v %v", len(snap.Entries), err)
	}
}
