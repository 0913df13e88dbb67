package readmodel

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/zoomsync/zoomsync/presence"
)

// row is one user's fixed-size part. Its strings are one record in the
// arena (at off); small repeated strings are interned.
type row struct {
	off, hayOff                                  uint32 // arena record, haystack segment
	version                                      uint64
	since, confirmed                             int64
	dept, title, dnParent                        uint32 // interned (t.in)
	account, status, zoomStatus, agent, userStat uint16 // interned (t.small)
	flags                                        uint8
}

const (
	flagLive   = 1 << iota // the row holds a user (else it is free)
	flagOnCall             // on a call
	flagLinked             // linked to a directory entry
)

// Arena record layout: uvarint mask; for each searchable string whose
// bit is set in mask, its original (uvarint length, bytes), as it
// differs from its lower-case form; then the user key and the DN's first
// RDN (uvarint length, bytes). The searchable strings are the display
// name, the email, the extension and the DirKeys, in that order.
//
// Haystack segment layout (t.hay, one slab that a search scans whole):
// the searchable strings lower-cased, each followed by a zero byte; a
// one byte; the row number (4 bytes, little-endian), so a match found
// anywhere in the slab names its row.
const (
	sName = iota
	sEmail
	sExt
	sDirKeys // the first of the DirKeys
)

// interner gives small repeated strings (statuses, departments, titles,
// DN parents) a number.
type interner struct {
	ids  map[string]uint32
	strs []string
}

func newInterner() *interner { return &interner{ids: map[string]uint32{"": 0}, strs: []string{""}} }

// id16 is s's number among at most 65,536 strings; past that, a new
// string reads back as "" (the model shows it empty; Redis keeps it).
func (in *interner) id16(s string) uint16 {
	if _, ok := in.ids[s]; !ok && len(in.strs) > 0xffff {
		return 0
	}
	return uint16(in.id(s))
}

func (in *interner) id(s string) uint32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := uint32(len(in.strs))
	s = strings.Clone(s)
	in.ids[s] = id
	in.strs = append(in.strs, s)
	return id
}

// table holds the users: rows, their arena, and the key tables.
type table struct {
	rows     []row
	free     []uint32 // rows to reuse
	live     int
	arena    []byte
	garbage  int // arena bytes no row points at
	hay      []byte
	hayWaste int       // haystack bytes no row points at
	in       *interner // departments, titles, DN parents
	small    *interner // accounts, statuses
	// keys: the Zoom user id, the email (lower case), the extension, and
	// one table per KeyFields entry (lower case).
	byID, byEmail, byExt keyTable
	byDir                []keyTable
	order                []uint32 // live rows by (lower-case name, account, key)
	bulk                 bool     // loading: order is sorted once at the end
	scratch, scratchHay  []byte
}

func newTable(capacity int) *table {
	t := &table{in: newInterner(), small: newInterner(), rows: make([]row, 0, capacity), arena: make([]byte, 0, capacity*48),
		hay: make([]byte, 0, capacity*64)}
	t.byID = newKeyTable(capacity)
	t.byEmail = newKeyTable(capacity)
	t.byExt = newKeyTable(capacity)
	for range KeyFields() {
		t.byDir = append(t.byDir, newKeyTable(capacity))
	}
	return t
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// searchable strings of p, in the arena's order.
func searchable(p *Person) []string {
	return append([]string{p.DisplayName, p.Email, p.Extension}, p.DirKeys...)
}

// clean drops the bytes the haystack uses as separators.
func clean(s string) string {
	if strings.ContainsAny(s, "\x00\x01") {
		s = strings.NewReplacer("\x00", "", "\x01", "").Replace(s)
	}
	return s
}

// encode appends p's arena record to b and its haystack (without the
// segment's end) to hay.
func encode(b, hay []byte, p *Person, dnRDN string) ([]byte, []byte) {
	strs := searchable(p)
	var mask uint64
	for i, s := range strs {
		s = clean(s)
		strs[i] = s
		l := strings.ToLower(s)
		if l != s {
			mask |= 1 << i
		}
		hay = append(append(hay, l...), 0)
	}
	b = binary.AppendUvarint(b, mask)
	for i, s := range strs {
		if mask&(1<<i) != 0 {
			b = appendString(b, s)
		}
	}
	b = appendString(b, p.Key)
	return appendString(b, dnRDN), hay
}

// rec is a decoded view of an arena record (its strings alias the arena).
type rec struct {
	mask uint64
	hay  []byte
	rest []byte // after the haystack
}

func (t *table) rec(r *row) rec {
	b := t.arena[r.off:]
	mask, n := binary.Uvarint(b)
	return rec{mask: mask, hay: t.haystack(r), rest: b[n:]}
}

// haystack is row r's haystack (without the segment's end).
func (t *table) haystack(r *row) []byte {
	h := t.hay[r.hayOff:]
	return h[:bytes.IndexByte(h, 1)]
}

// recordLen is the length of row r's arena record.
func (t *table) recordLen(r *row, nstr int) int {
	b := t.arena[r.off:]
	mask, n := binary.Uvarint(b)
	rest := b[n:]
	for i := range nstr {
		if mask&(1<<i) != 0 {
			rest = skipString(rest)
		}
	}
	rest = skipString(skipString(rest))
	return len(b) - len(rest)
}

// lower returns searchable string i, lower case.
func (c rec) lower(i int) []byte {
	h := c.hay
	for ; i > 0; i-- {
		h = h[indexZero(h)+1:]
	}
	return h[:indexZero(h)]
}

func indexZero(b []byte) int {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return i
	}
	return len(b)
}

func readString(b []byte) (string, []byte) {
	n, k := binary.Uvarint(b)
	return string(b[k : k+int(n)]), b[k+int(n):]
}

func skipString(b []byte) []byte {
	n, k := binary.Uvarint(b)
	return b[k+int(n):]
}

// strings decodes the searchable strings (originals), the key and the RDN.
func (c rec) strings(n int) (strs []string, key, rdn string) {
	strs = make([]string, n)
	b := c.rest
	h := c.hay
	for i := range n {
		z := indexZero(h)
		if c.mask&(1<<i) != 0 {
			strs[i], b = readString(b)
		} else {
			strs[i] = string(h[:z])
		}
		h = h[z+1:]
	}
	key, b = readString(b)
	rdn, _ = readString(b)
	return strs, key, rdn
}

// key is the row's user key, without decoding the rest.
func (c rec) key(n int) []byte {
	b := c.rest
	for i := range n {
		if c.mask&(1<<i) != 0 {
			b = skipString(b)
		}
	}
	l, k := binary.Uvarint(b)
	return b[k : k+int(l)]
}

func splitDN(dn string) (rdn, parent string) {
	// A DN's parent (ou=people,dc=example,dc=com) is shared by many
	// entries: it is interned, only the first RDN is per user.
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			return dn[:i], dn[i:]
		}
	}
	return dn, ""
}

// person decodes row i.
func (t *table) person(i uint32) Person {
	r := &t.rows[i]
	nk := len(t.byDir)
	strs, key, rdn := t.rec(r).strings(sDirKeys + nk)
	p := Person{Account: t.small.strs[r.account], Key: key, DisplayName: strs[sName], Email: strs[sEmail], Extension: strs[sExt],
		Status: presence.Status(t.small.strs[r.status]), ZoomStatus: t.small.strs[r.zoomStatus], StatusSince: r.since, ConfirmedAt: r.confirmed,
		OnCall: r.flags&flagOnCall != 0, AgentStatus: t.small.strs[r.agent], UserStatus: t.small.strs[r.userStat],
		Linked: r.flags&flagLinked != 0, DN: rdn + t.in.strs[r.dnParent], Department: t.in.strs[r.dept], Title: t.in.strs[r.title],
		version: r.version}
	if nk > 0 {
		p.DirKeys = strs[sDirKeys:]
	}
	return p
}

// keyOf returns the value row i has in key table k: 0 the id, 1 the
// email, 2 the extension, 3… the DirKeys.
func (t *table) keyOf(i uint32, k int) []byte {
	c := t.rec(&t.rows[i])
	if k == 0 {
		return c.key(sDirKeys + len(t.byDir))
	}
	return c.lower(k)
}

func (t *table) keyTables() []*keyTable {
	ks := []*keyTable{&t.byID, &t.byEmail, &t.byExt}
	for i := range t.byDir {
		ks = append(ks, &t.byDir[i])
	}
	return ks
}

// find returns the row of account/key, if held.
func (t *table) find(account, key string) (uint32, bool) {
	var out uint32
	found := false
	t.byID.each(hashKey(key), func(i uint32) bool {
		if string(t.keyOf(i, 0)) == key && t.small.strs[t.rows[i].account] == account {
			out, found = i, true
			return false
		}
		return true
	})
	return out, found
}

// put stores p, replacing its row if it has one, and returns its row.
func (t *table) put(p *Person) uint32 {
	rdn, parent := splitDN(p.DN)
	t.scratch, t.scratchHay = encode(t.scratch[:0], t.scratchHay[:0], p, rdn)
	i, had := t.find(p.Account, p.Key)
	if had {
		old := &t.rows[i]
		if string(t.arena[old.off:int(old.off)+t.recordLen(old, sDirKeys+len(t.byDir))]) == string(t.scratch) &&
			string(t.haystack(old)) == string(t.scratchHay) {
			t.setFixed(old, p, parent) // strings unchanged: no arena write, no key or order change
			return i
		}
		if !t.bulk {
			t.orderRemove(i)
		}
		t.unindex(i)
	} else if n := len(t.free); n > 0 {
		i, t.free = t.free[n-1], t.free[:n-1]
	} else {
		i = uint32(len(t.rows))
		t.rows = append(t.rows, row{})
	}
	r := &t.rows[i]
	*r = row{off: uint32(len(t.arena)), hayOff: uint32(len(t.hay)), flags: flagLive}
	t.arena = append(t.arena, t.scratch...)
	t.hay = binary.LittleEndian.AppendUint32(append(append(t.hay, t.scratchHay...), 1), i)
	t.setFixed(r, p, parent)
	t.index(i)
	if !t.bulk {
		t.orderInsert(i)
	}
	t.live++
	return i
}

func (t *table) setFixed(r *row, p *Person, dnParent string) {
	r.version, r.since, r.confirmed = p.version, p.StatusSince, p.ConfirmedAt
	r.account, r.status, r.zoomStatus = t.small.id16(p.Account), t.small.id16(string(p.Status)), t.small.id16(p.ZoomStatus)
	r.agent, r.userStat = t.small.id16(p.AgentStatus), t.small.id16(p.UserStatus)
	r.dept, r.title, r.dnParent = t.in.id(p.Department), t.in.id(p.Title), t.in.id(dnParent)
	r.flags = flagLive
	if p.OnCall {
		r.flags |= flagOnCall
	}
	if p.Linked {
		r.flags |= flagLinked
	}
}

// index adds row i to the key tables.
func (t *table) index(i uint32) {
	for k, kt := range t.keyTables() {
		if v := t.keyOf(i, k); len(v) > 0 {
			t.grow(kt, k)
			kt.insert(hashBytes(v), i)
		}
	}
}

// unindex takes row i out of the key tables and frees its arena record.
func (t *table) unindex(i uint32) {
	for k, kt := range t.keyTables() {
		if v := t.keyOf(i, k); len(v) > 0 {
			kt.remove(hashBytes(v), i, func(j uint32) uint64 { return hashBytes(t.keyOf(j, k)) })
		}
	}
	r := &t.rows[i]
	t.garbage += t.recordLen(r, sDirKeys+len(t.byDir))
	t.hayWaste += len(t.haystack(r)) + 5
	t.live--
}

// remove drops account/key; it reports whether it was held.
func (t *table) remove(account, key string) bool {
	i, ok := t.find(account, key)
	if !ok {
		return false
	}
	t.orderRemove(i)
	t.unindex(i)
	t.rows[i] = row{}
	t.free = append(t.free, i)
	return true
}

// grow doubles key table kt (the k-th) when it is too full.
func (t *table) grow(kt *keyTable, k int) {
	if !kt.full() {
		return
	}
	n := newKeyTable(2 * kt.n)
	for _, s := range kt.slots {
		if s != 0 {
			n.insert(hashBytes(t.keyOf(s-1, k)), s-1)
		}
	}
	*kt = n
}

// compact rewrites the arena and the haystack slab without garbage
// when garbage is more than a quarter of either.
func (t *table) compact() {
	if t.garbage <= len(t.arena)/4 && t.hayWaste <= len(t.hay)/4 {
		return
	}
	nstr := sDirKeys + len(t.byDir)
	arena := make([]byte, 0, len(t.arena)-t.garbage)
	hay := make([]byte, 0, len(t.hay)-t.hayWaste)
	for i := range t.rows {
		r := &t.rows[i]
		if r.flags&flagLive == 0 {
			continue
		}
		off, hayOff := uint32(len(arena)), uint32(len(hay))
		arena = append(arena, t.arena[r.off:int(r.off)+t.recordLen(r, nstr)]...)
		hay = append(hay, t.hay[r.hayOff:int(r.hayOff)+len(t.haystack(r))+5]...)
		r.off, r.hayOff = off, hayOff
	}
	t.arena, t.garbage, t.hay, t.hayWaste = arena, 0, hay, 0
}

// trim gives back what growing left spare after a load: the rows, the
// arena and the haystack are copied to their length, the key tables
// rebuilt at their load size.
func (t *table) trim() {
	t.rows = append([]row(nil), t.rows...)
	t.arena = append([]byte(nil), t.arena...)
	t.hay = append([]byte(nil), t.hay...)
	for k, kt := range t.keyTables() {
		n := newKeyTable(kt.n)
		for _, s := range kt.slots {
			if s != 0 {
				n.insert(hashBytes(t.keyOf(s-1, k)), s-1)
			}
		}
		*kt = n
	}
}
