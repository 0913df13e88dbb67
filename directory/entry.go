package directory

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Flavor is the kind of server, which decides the stable id attribute,
// the disabled flag and whether reads can be split.
type Flavor string

// Flavors.
const (
	OpenLDAP        Flavor = "openldap"
	ActiveDirectory Flavor = "active_directory"
	Generic         Flavor = "generic"
)

// OID of the Active Directory capability in the rootDSE's
// supportedCapabilities.
const oidActiveDirectory = "1.2.840.113556.1.4.800"

// Entry is one person of the directory. Its values are packed (one slice
// of all values, attribute by attribute, with their ends): a 100,000-entry
// snapshot is held in memory during every mapping run.
type Entry struct {
	DN string
	ID string // entryUUID, objectGUID (as a UUID) or, lacking both, the DN
	// Disabled: Active Directory would refuse the person's logon, because
	// userAccountControl has ACCOUNTDISABLE or accountExpires has passed.
	Disabled bool
	vals     []string
	// ends[i]: end in vals of attribute i's values. 32 bits: an attribute
	// can hold more than 65,535 values (a directory's content must never
	// crash zoomsync).
	ends []uint32
}

// NewEntry builds an entry whose values[i] are the values of attribute i
// of its snapshot.
func NewEntry(dn, id string, disabled bool, values [][]string) Entry {
	e := Entry{DN: dn, ID: id, Disabled: disabled, ends: make([]uint32, len(values))}
	n := 0
	for _, v := range values {
		n += len(v)
	}
	e.vals = make([]string, 0, n)
	for i, v := range values {
		e.vals = append(e.vals, v...)
		e.ends[i] = uint32(len(e.vals))
	}
	return e
}

// Values returns the values of the snapshot's attribute i.
func (e *Entry) Values(i int) []string {
	if i < 0 || i >= len(e.ends) {
		return nil
	}
	start := uint32(0)
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.vals[start:e.ends[i]:e.ends[i]]
}

type entryJSON struct {
	DN       string     `json:"dn"`
	ID       string     `json:"id"`
	Disabled bool       `json:"disabled,omitempty"`
	Values   [][]string `json:"v"`
}

// MarshalJSON stores an entry in the snapshot kept in Redis.
func (e Entry) MarshalJSON() ([]byte, error) {
	j := entryJSON{DN: e.DN, ID: e.ID, Disabled: e.Disabled, Values: make([][]string, len(e.ends))}
	for i := range e.ends {
		j.Values[i] = e.Values(i)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads an entry stored by MarshalJSON.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j entryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = NewEntry(j.DN, j.ID, j.Disabled, j.Values)
	return nil
}

// Snapshot is a complete read of the people of a directory.
type Snapshot struct {
	Flavor     Flavor
	Attributes []string // the attributes whose values entries hold, as asked
	Entries    []Entry

	once  sync.Once // index is built once, safely from several goroutines
	index map[string]int
}

// Get returns an entry's values of attr (case-insensitive name).
func (s *Snapshot) Get(e *Entry, attr string) []string {
	i := s.Position(attr)
	if i < 0 {
		return nil
	}
	return e.Values(i)
}

// Position returns where attr (case-insensitive name) is among the
// snapshot's attributes, for Entry.Values; -1 if it is not one of them.
// Loops over every entry look the position up once.
func (s *Snapshot) Position(attr string) int {
	s.once.Do(func() {
		s.index = make(map[string]int, len(s.Attributes))
		for i, a := range s.Attributes {
			s.index[strings.ToLower(a)] = i
		}
	})
	i, ok := s.index[strings.ToLower(attr)]
	if !ok {
		return -1
	}
	return i
}

// First returns an entry's first value of attr, or "".
func (s *Snapshot) First(e *Entry, attr string) string {
	if v := s.Get(e, attr); len(v) > 0 {
		return v[0]
	}
	return ""
}

// idAttribute is the stable id attribute of a flavor.
func (f Flavor) idAttribute() string {
	if f == ActiveDirectory {
		return "objectGUID"
	}
	return "entryUUID"
}

// converter turns go-ldap entries into Entries for a list of attributes.
type converter struct {
	flavor Flavor
	attrs  []string
	pos    map[string]int // lower-case attribute → position in attrs
	// now is the read's time as an AD FILETIME (100 ns intervals since
	// 1601-01-01 UTC): accounts whose accountExpires is before it are
	// expired.
	now int64
}

// FILETIME of the Unix epoch.
const filetimeUnixEpoch = 116444736000000000

func newConverter(f Flavor, attrs []string, now time.Time) *converter {
	c := &converter{flavor: f, attrs: attrs, pos: make(map[string]int, len(attrs)),
		now: now.UnixNano()/100 + filetimeUnixEpoch}
	for i, a := range attrs {
		c.pos[strings.ToLower(a)] = i
	}
	return c
}

// request lists the attributes to ask the server for.
func (c *converter) request() []string {
	out := append([]string(nil), c.attrs...)
	out = append(out, c.flavor.idAttribute())
	if c.flavor == ActiveDirectory {
		out = append(out, "userAccountControl", "accountExpires")
	}
	return out
}

// expired reports whether an accountExpires value has passed. 0 and
// 0x7FFFFFFFFFFFFFFF mean never; a value that is not a number is not
// taken as an expiry.
func (c *converter) expired(v string) bool {
	t, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return err == nil && t > 0 && t != math.MaxInt64 && t <= c.now
}

func (c *converter) convert(le *ldap.Entry) Entry {
	values := make([][]string, len(c.attrs))
	e := Entry{DN: le.DN}
	for _, a := range le.Attributes {
		name := strings.ToLower(a.Name)
		switch {
		case name == "objectguid" && c.flavor == ActiveDirectory:
			if len(a.ByteValues) > 0 {
				e.ID = guidString(a.ByteValues[0])
			}
		case name == "entryuuid" && c.flavor != ActiveDirectory:
			if len(a.Values) > 0 {
				e.ID = strings.ToLower(a.Values[0])
			}
		case name == "useraccountcontrol" && c.flavor == ActiveDirectory:
			if len(a.Values) > 0 {
				uac, _ := strconv.ParseInt(a.Values[0], 10, 64)
				e.Disabled = e.Disabled || uac&2 != 0 // ACCOUNTDISABLE
			}
		case name == "accountexpires" && c.flavor == ActiveDirectory:
			if len(a.Values) > 0 && c.expired(a.Values[0]) {
				e.Disabled = true
			}
		}
		if i, ok := c.pos[name]; ok {
			values[i] = a.Values
		}
	}
	if e.ID == "" {
		e.ID = "dn:" + strings.ToLower(le.DN)
	}
	return NewEntry(e.DN, e.ID, e.Disabled, values)
}

// guidString formats an Active Directory objectGUID the way AD shows it:
// the first three groups are little-endian.
func guidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	o := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	o = append(o, b[8:]...)
	h := hex.EncodeToString(o)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
