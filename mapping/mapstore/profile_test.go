package mapstore

import (
	"hash/fnv"
	"slices"
	"strconv"
	"testing"

	"github.com/zoomsync/zoomsync/directory"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// TestProfileKeepsStoredFormats: the table reads the attributes, and
// links carry the record fields, in the order earlier versions stored
// them (the snapshot's attribute list and every dir_sum depend on it), and
// the lookup keys are the indices earlier versions published.
func TestProfileKeepsStoredFormats(t *testing.T) {
	if got, want := ProfileAttributes(), []string{"uid", "sAMAccountName", "employeeNumber", "employeeID", "displayName", "cn",
		"mail", "departmentNumber", "department", "title", "telephoneNumber"}; !slices.Equal(got, want) {
		t.Errorf("attributes %q, want %q", got, want)
	}
	if got, want := LinkFields(), []string{zsync.FieldDirID, zsync.FieldDirDN, zsync.FieldDirUID, zsync.FieldDirEmployeeNumber,
		zsync.FieldDirDisplayName, zsync.FieldDirDepartment, zsync.FieldDirTitle, zsync.FieldDirPhone,
		zsync.FieldDirDisabled, zsync.FieldDirRule, zsync.FieldMapping}; !slices.Equal(got, want) {
		t.Errorf("link fields %q, want %q", got, want)
	}
	var names []string
	for _, i := range Indexed() {
		names = append(names, Profile[i].Name)
	}
	if want := []string{"uid", "employee_number", "mail"}; !slices.Equal(names, want) {
		t.Errorf("lookup keys %q, want %q", names, want)
	}
}

// TestLookupKeysProbed: a key is looked up in the uid and employee number
// indices always, in the mail index only when it can be an email; a
// record answers to its own uid or employee number in any case.
func TestLookupKeysProbed(t *testing.T) {
	probed := func(key string) (out []string) {
		for _, f := range Profile {
			if f.Index != nil && f.Index(key) {
				out = append(out, f.Name)
			}
		}
		return out
	}
	if got := probed("ada"); !slices.Equal(got, []string{"uid", "employee_number"}) {
		t.Errorf("ada: %q", got)
	}
	if got := probed("ada@example.com"); !slices.Equal(got, []string{"uid", "employee_number", "mail"}) {
		t.Errorf("an email: %q", got)
	}
	rec := map[string]string{zsync.FieldDirUID: "Ada", zsync.FieldDirEmployeeNumber: "0042", zsync.FieldDirTitle: "CTO"}
	for key, want := range map[string]bool{"ada": true, "0042": true, "cto": false, "": false} {
		if got := Carries(rec, key); got != want {
			t.Errorf("Carries(%q) = %v", key, got)
		}
	}
}

// TestSnapshotDigestFormat: the snapshot's content digest is FNV-1a over
// the flavor, the attributes and every entry's values with separators,
// base 36, and the entry count: the one earlier versions stored.
func TestSnapshotDigestFormat(t *testing.T) {
	snap := &directory.Snapshot{Flavor: directory.OpenLDAP, Attributes: []string{"uid", "mail"}, Entries: []directory.Entry{
		directory.NewEntry("uid=ada", "id-1", false, [][]string{{"ada"}, {"a@x", "b@x"}}),
	}}
	h := fnv.New64a()
	h.Write([]byte("openldap\x00uid\x00mail\x00uid=ada\x00id-1\x00false\x00ada\x00\x01a@x\x00b@x\x00\x01\x02"))
	if got, want := snapshotDigest(snap), strconv.FormatUint(h.Sum64(), 36)+"/1"; got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
}
