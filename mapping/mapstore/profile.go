package mapstore

import (
	"strings"

	zsync "github.com/zoomsync/zoomsync/sync"
)

// ProfileField is one thing a link shows of its directory entry.
type ProfileField struct {
	// Name is the field's name in the report's items and, for a lookup
	// key, the name of its index (IndexKey).
	Name string
	// Attributes are read in this order of preference, the first with a
	// value winning; OpenLDAP and Active Directory names are both listed
	// (a server ignores the ones it lacks).
	Attributes []string
	// Record is the user record field a link copies the value to; "":
	// the report shows it, records do not keep it.
	Record string
	// Index, when set, makes the field a helpdesk lookup key: each mapping
	// run publishes an index from the field's value (IndexValue) to the
	// users linked to entries with it, and a key for which Index is true
	// is looked up there.
	Index func(key string) bool
	// Called is how the API's messages name a lookup key ("": it needs no
	// name of its own, as a directory email is an email).
	Called string
	// Omit leaves the field out of a report item when it is empty.
	Omit bool
}

// Profile is every profile field, in the order reports show them. It is
// the one place that says what a link carries: a new lookup key is one
// entry here (or Index set on an existing one). Stored digests depend on
// the order of the fields with a Record, so a new one goes at the end.
var Profile = []ProfileField{
	{Name: "uid", Attributes: []string{"uid", "sAMAccountName"}, Record: zsync.FieldDirUID, Index: AnyKey, Called: "directory uid"},
	{Name: "employee_number", Attributes: []string{"employeeNumber", "employeeID"}, Record: zsync.FieldDirEmployeeNumber, Index: AnyKey,
		Called: "employee number", Omit: true},
	{Name: "display_name", Attributes: []string{"displayName", "cn"}, Record: zsync.FieldDirDisplayName, Omit: true},
	{Name: "mail", Attributes: []string{"mail"}, Index: EmailKey, Omit: true},
	{Name: "department", Attributes: []string{"departmentNumber", "department"}, Record: zsync.FieldDirDepartment, Omit: true},
	{Name: "title", Attributes: []string{"title"}, Record: zsync.FieldDirTitle, Omit: true},
	{Name: "phone", Attributes: []string{"telephoneNumber"}, Record: zsync.FieldDirPhone, Omit: true},
}

// AnyKey looks every helpdesk key up in an index.
func AnyKey(string) bool { return true }

// EmailKey looks only keys that can be email addresses up in an index.
func EmailKey(key string) bool { return strings.Contains(key, "@") }

// ProfileAttributes are the directory attributes Profile reads, in order.
func ProfileAttributes() []string {
	var attrs []string
	for _, f := range Profile {
		attrs = append(attrs, f.Attributes...)
	}
	return attrs
}

// Indexed are the positions in Profile of the lookup keys, in order.
func Indexed() []int {
	var ix []int
	for i, f := range Profile {
		if f.Index != nil {
			ix = append(ix, i)
		}
	}
	return ix
}

// KeyNames are the names of the lookup keys that have one (Called), in
// order: what the API's messages list.
func KeyNames() []string {
	var names []string
	for _, f := range Profile {
		if f.Index != nil && f.Called != "" {
			names = append(names, f.Called)
		}
	}
	return names
}

// IndexValue is the form under which a lookup index holds a value, and
// under which a helpdesk key is looked up.
func IndexValue(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// LinkFields are the record fields a mapping run owns, in the order a
// link's digest (dir_sum) covers them: the entry's id and DN, the profile
// fields with a Record, whether it is disabled, the rule and the outcome.
func LinkFields() []string {
	fields := []string{zsync.FieldDirID, zsync.FieldDirDN}
	for _, f := range Profile {
		if f.Record != "" {
			fields = append(fields, f.Record)
		}
	}
	return append(fields, zsync.FieldDirDisabled, zsync.FieldDirRule, zsync.FieldMapping)
}

// Carries reports whether a record answers to a helpdesk key through one
// of its lookup-key fields (the ones a link copies to the record).
func Carries(fields map[string]string, key string) bool {
	for _, f := range Profile {
		if f.Index != nil && f.Record != "" && fields[f.Record] != "" && strings.EqualFold(fields[f.Record], key) {
			return true
		}
	}
	return false
}
