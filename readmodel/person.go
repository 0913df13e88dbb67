package readmodel

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/zoomsync/zoomsync/internal/fnv1a"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// Person is what the model holds of one user: what a lookup, the board
// and the live stream show.
type Person struct {
	Account, Key string
	Email        string
	DisplayName  string
	Status       presence.Status
	ZoomStatus   string
	StatusSince  int64 // Unix ms the effective status began; 0: unknown
	ConfirmedAt  int64 // Unix ms Zoom last confirmed the presence; 0: never
	OnCall       bool
	AgentStatus  string
	UserStatus   string
	// Linked: the user is linked to a directory entry (DN and the key
	// fields are its).
	Linked     bool
	DN         string
	Department string // the directory's, else Zoom's
	Title      string
	Extension  string
	// DirKeys are the values of KeyFields (the record fields of Profile's
	// lookup keys), in order.
	DirKeys []string
	// version is what the drift check compares: the record's vmax,
	// status_seq and dir_sum.
	version uint64
}

// Dir returns the value of one of KeyFields ("" if it is not one).
func (p *Person) Dir(field string) string {
	for i, f := range KeyFields() {
		if f == field && i < len(p.DirKeys) {
			return p.DirKeys[i]
		}
	}
	return ""
}

// KeyFields are the record fields of mapstore.Profile's lookup keys (a
// directory uid, an employee number): the model indexes them as records
// carry them. A lookup key without a record field (the directory's mail)
// is looked up in the published mapping index (Model.Lookup falls back).
func KeyFields() []string {
	var fs []string
	for _, f := range mapstore.Profile {
		if f.Index != nil && f.Record != "" {
			fs = append(fs, f.Record)
		}
	}
	return fs
}

// DisplayName is a record's name as the helpdesk shows it: Zoom's display
// name, else first and last name, else the directory's.
func DisplayName(get func(string) string) string {
	if n := get(zsync.FieldDisplayName); n != "" {
		return n
	}
	if n := strings.TrimSpace(get(zsync.FieldFirstName) + " " + get(zsync.FieldLastName)); n != "" {
		return n
	}
	return get(zsync.FieldDirDisplayName)
}

// readFields are the record fields the model reads: vmax first (the
// reader's liveness mark), then what a Person is made of.
var readFields = append([]string{"vmax", zsync.FieldStatusSeq, zsync.FieldDirSum,
	zsync.FieldEmail, zsync.FieldDisplayName, zsync.FieldFirstName, zsync.FieldLastName, zsync.FieldDirDisplayName,
	zsync.FieldStatus, zsync.FieldPresence, zsync.FieldZoomStatus, zsync.FieldStatusSince, zsync.FieldCallState,
	zsync.FieldAgentStatus, zsync.FieldUserStatus, zsync.FieldConfirmedAt, zsync.FieldDirID, zsync.FieldDirDN,
	zsync.FieldDirDepartment, zsync.FieldDept, zsync.FieldDirTitle, zsync.FieldExtension}, KeyFields()...)

// versionFields are what the drift check reads of every record.
var versionFields = []string{"vmax", zsync.FieldStatusSeq, zsync.FieldDirSum}

var fieldPos = func() map[string]int {
	m := map[string]int{}
	for i, f := range readFields {
		if _, ok := m[f]; !ok {
			m[f] = i
		}
	}
	return m
}()

// versionOf digests what the drift check compares.
func versionOf(vmax, seq, dirSum string) uint64 {
	return fnv1a.New64().Add(vmax).AddByte(0).Add(seq).AddByte(0).Add(dirSum).Sum()
}

// personOf builds a Person from the values of readFields.
func personOf(account, key string, vals []string) Person {
	get := func(f string) string { return vals[fieldPos[f]] }
	msOf := func(f string) int64 { n, _ := strconv.ParseInt(get(f), 10, 64); return max(n, 0) }
	onCall := get(zsync.FieldCallState) == "on_call"
	status := presence.Status(get(zsync.FieldStatus))
	if status == "" { // recorded before effective statuses were kept
		status = presence.Effective(presence.Sources{Presence: presence.Status(get(zsync.FieldPresence)), OnCall: onCall,
			UserStatus: get(zsync.FieldUserStatus)})
	}
	p := Person{Account: account, Key: key, Email: get(zsync.FieldEmail), DisplayName: DisplayName(get), Status: status,
		ZoomStatus: get(zsync.FieldZoomStatus), StatusSince: msOf(zsync.FieldStatusSince), ConfirmedAt: msOf(zsync.FieldConfirmedAt),
		OnCall: onCall, AgentStatus: get(zsync.FieldAgentStatus), UserStatus: get(zsync.FieldUserStatus),
		Linked: get(zsync.FieldDirID) != "", DN: get(zsync.FieldDirDN),
		Department: cmp.Or(get(zsync.FieldDirDepartment), get(zsync.FieldDept)), Title: get(zsync.FieldDirTitle),
		Extension: get(zsync.FieldExtension),
		version:   versionOf(get("vmax"), get(zsync.FieldStatusSeq), get(zsync.FieldDirSum))}
	for _, f := range KeyFields() {
		p.DirKeys = append(p.DirKeys, get(f))
	}
	return p
}
