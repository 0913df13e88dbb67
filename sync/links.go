package zsync

// Fields of a user record written by the mapping (never by Zoom data):
// the user's link to a directory entry. They are derived: they never
// create a record and never count as news about the Zoom user (vmax).
// Which profile fields a link carries is declared in mapping/mapstore
// (Profile).
const (
	FieldDirID             = "dir_id" // the entry's stable id; "" when unlinked
	FieldDirDN             = "dir_dn"
	FieldDirUID            = "dir_uid"
	FieldDirEmployeeNumber = "dir_employee_number"
	FieldDirDisplayName    = "dir_display_name"
	FieldDirDepartment     = "dir_department"
	FieldDirTitle          = "dir_title"
	FieldDirPhone          = "dir_phone"
	FieldDirDisabled       = "dir_disabled" // "true" when the entry is disabled
	FieldDirRule           = "dir_rule"     // the rule that linked it
	FieldMapping           = "mapping"      // matched, unmatched, conflict
	FieldDirSum            = "dir_sum"      // digest of the link fields: a run rewrites only links that changed
)
