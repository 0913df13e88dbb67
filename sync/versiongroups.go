package zsync

import "strings"

// A record keeps every field's version, but not every version in a field
// of its own: most fields are written together with one version (a
// pulled row's profile, a link's fields, a presence event's), so a field
// of a version group has its version in the group's field (v#GROUP) and
// only a field whose version differs from its group's keeps its own
// (v:FIELD, an override). A field's version is its override if it has
// one, else its group's. Per-field versioning is unchanged: the apply
// script compares each write with the field's own version, as before.
//
// Invariants (the apply script keeps them):
//   - a group's version moves only when one write applies every field of
//     the group, all with the same version: it becomes that version and
//     the fields' overrides are deleted; any other applied field of a
//     group gets an override;
//   - so a field of a group without an override is present and was
//     written with the group's version.
//
// A record written before version groups has an override for every
// field and no group versions: it reads and applies as it is, and each
// group's overrides give way to the group's version at the next write of
// the whole group (the next full pull, link change, presence event).
// Field names outside every group (call_state, a future field) always
// keep their own version.
//
// Each override or group version costs a listpack entry pair (~24 B for
// "v:employee_unique_id" and a 13-digit version); a linked user with a
// presence has some 25 versioned fields in 3 groups.

// Version groups, by the name their version field carries.
const (
	groupProfile  = "p" // a pulled row's fields
	groupLink     = "d" // a link's fields (written by the mapping)
	groupPresence = "z" // a presence event's fields
	groupAgent    = "a" // a contact-center agent status event's fields
	groupPhone    = "e" // the extension (the phone pull writes it alone)
)

// GroupVersionPrefix starts the name of a group's version field; no
// written field may start with it (checkWrite).
const GroupVersionPrefix = "v#"

// versionGroup is each grouped field's group.
var versionGroup = func() map[string]string {
	m := map[string]string{}
	for g, fields := range map[string][]string{
		groupProfile: {FieldEmail, FieldFirstName, FieldLastName, FieldDisplayName, FieldType, FieldDept, FieldTimezone,
			FieldEmployeeUniqueID, FieldGroupIDs, FieldUserStatus},
		groupLink: {FieldDirID, FieldDirDN, FieldDirUID, FieldDirEmployeeNumber, FieldDirDisplayName, FieldDirDepartment,
			FieldDirTitle, FieldDirPhone, FieldDirDisabled, FieldDirRule, FieldMapping, FieldDirSum},
		groupPresence: {FieldZoomStatus, FieldPresence, FieldPresenceSince},
		groupAgent:    {FieldAgentStatusID, FieldAgentStatusName, FieldAgentStatus},
		groupPhone:    {FieldExtension},
	} {
		for _, f := range fields {
			m[f] = g
		}
	}
	return m
}()

// versionGroupSize is how many fields each group has.
var versionGroupSize = func() map[string]int {
	m := map[string]int{}
	for _, g := range versionGroup {
		m[g]++
	}
	return m
}()

// groupVersionField is the field holding a group's version.
func groupVersionField(group string) string { return GroupVersionPrefix + group }

// isGroupVersionField reports whether a stored field is a group's version.
func isGroupVersionField(name string) bool { return strings.HasPrefix(name, GroupVersionPrefix) }
