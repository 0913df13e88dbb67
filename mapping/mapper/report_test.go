package mapper

import (
	"encoding/json"
	"testing"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
)

// TestReportItemsKeepTheirBytes: report items about entries, rendered from
// the profile table, are byte for byte what earlier versions stored from
// a struct (so a report's digests still compare after an upgrade), with
// values that need escaping and fields left empty.
func TestReportItemsKeepTheirBytes(t *testing.T) {
	type profile struct {
		UID            string `json:"uid"`
		EmployeeNumber string `json:"employee_number,omitempty"`
		DisplayName    string `json:"display_name,omitempty"`
		Mail           string `json:"mail,omitempty"`
		Department     string `json:"department,omitempty"`
		Title          string `json:"title,omitempty"`
		Phone          string `json:"phone,omitempty"`
	}
	snap := &directory.Snapshot{Flavor: directory.ActiveDirectory, Attributes: mapstore.ProfileAttributes()}
	values := [][]string{{"ada"}, nil, {"0042"}, nil, {`Ada "<L>" & co`}, nil, {"ada@example.com"}, {"R&D"}, nil, {"CTO\u2028"}, {"+1 555\xff"}}
	snap.Entries = []directory.Entry{
		directory.NewEntry("uid=ada,ou=people", "id-1", true, values),
		directory.NewEntry("cn=nobody", "id-2", false, make([][]string, len(values))),
	}
	p := newProfiler(snap)
	want := []profile{{"ada", "0042", `Ada "<L>" & co`, "ada@example.com", "R&D", "CTO\u2028", "+1 555\xff"}, {}}
	user := mapping.Ref{Account: "A", Key: "u1", Email: "ada@example.com"}
	for i := range snap.Entries {
		e := &snap.Entries[i]
		old, _ := json.Marshal(struct {
			DN string `json:"dn"`
			profile
		}{e.DN, want[i]})
		if got := entryItem(nil, e, p); string(got) != string(old) {
			t.Errorf("unmatched entry %d:\n got %s\nwant %s", i, got, old)
		}
		old, _ = json.Marshal(struct {
			User mapping.Ref `json:"user"`
			DN   string      `json:"dn"`
			profile
		}{user, e.DN, want[i]})
		if got := entryItem(&user, e, p); string(got) != string(old) {
			t.Errorf("disabled active %d:\n got %s\nwant %s", i, got, old)
		}
	}
}
