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

// Positions in readFields, found once (a load reads them for every user).
var (
	posVmax, posSeq, posDirSum = fieldPos["vmax"], fieldPos[zsync.FieldStatusSeq], fieldPos[zsync.FieldDirSum]
	posEmail, posDisplayName   = fieldPos[zsync.FieldEmail], fieldPos[zsync.FieldDisplayName]
	posFirst, posLast          = fieldPos[zsync.FieldFirstName], fieldPos[zsync.FieldLastName]
	posDirDisplayName          = fieldPos[zsync.FieldDirDisplayName]
	posStatus, posPresence     = fieldPos[zsync.FieldStatus], fieldPos[zsync.FieldPresence]
	posZoomStatus, posSince    = fieldPos[zsync.FieldZoomStatus], fieldPos[zsync.FieldStatusSince]
	posCallState, posAgent     = fieldPos[zsync.FieldCallState], fieldPos[zsync.FieldAgentStatus]
	posUserStatus, posConfirm  = fieldPos[zsync.FieldUserStatus], fieldPos[zsync.FieldConfirmedAt]
	posDirID, posDirDN         = fieldPos[zsync.FieldDirID], fieldPos[zsync.FieldDirDN]
	posDirDept, posDept        = fieldPos[zsync.FieldDirDepartment], fieldPos[zsync.FieldDept]
	posDirTitle, posExtension  = fieldPos[zsync.FieldDirTitle], fieldPos[zsync.FieldExtension]
	posKeys                    = func() []int {
		var ps []int
		for _, f := range KeyFields() {
			ps = append(ps, fieldPos[f])
		}
		return ps
	}()
)

// personOf builds a Person from the values of readFields.
func personOf(account, key string, vals []string) Person {
	name := vals[posDisplayName]
	if name == "" {
		if name = strings.TrimSpace(vals[posFirst] + " " + vals[posLast]); name == "" {
			name = vals[posDirDisplayName]
		}
	}
	msOf := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return max(n, 0) }
	onCall := vals[posCallState] == "on_call"
	status := presence.Status(vals[posStatus])
	if status == "" { // recorded before effective statuses were kept
		status = presence.Effective(presence.Sources{Presence: presence.Status(vals[posPresence]), OnCall: onCall, UserStatus: vals[posUserStatus]})
	}
	p := Person{Account: account, Key: key, Email: vals[posEmail], DisplayName: name, Status: status,
		ZoomStatus: vals[posZoomStatus], StatusSince: msOf(vals[posSince]), ConfirmedAt: msOf(vals[posConfirm]),
		OnCall: onCall, AgentStatus: vals[posAgent], UserStatus: vals[posUserStatus],
		Linked: vals[posDirID] != "", DN: vals[posDirDN], Department: cmp.Or(vals[posDirDept], vals[posDept]), Title: vals[posDirTitle],
		Extension: vals[posExtension], version: versionOf(vals[posVmax], vals[posSeq], vals[posDirSum]),
		DirKeys: make([]string, len(posKeys))}
	for i, at := range posKeys {
		p.DirKeys[i] = vals[at]
	}
	return p
}
