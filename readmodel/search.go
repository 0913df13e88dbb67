package readmodel

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/zoomsync/zoomsync/presence"
)

// The board's order: display name case-insensitively, then account, then
// user key. t.order keeps the live rows in it; a change that keeps a
// user's strings (a presence change) does not move it.

func (t *table) cmpRows(a, b uint32) int {
	ra, rb := t.rec(&t.rows[a]), t.rec(&t.rows[b])
	if c := bytes.Compare(ra.lower(sName), rb.lower(sName)); c != 0 {
		return c
	}
	if c := cmp.Compare(t.small.strs[t.rows[a].account], t.small.strs[t.rows[b].account]); c != 0 {
		return c
	}
	n := sDirKeys + len(t.byDir)
	return bytes.Compare(ra.key(n), rb.key(n))
}

// position is where row i is, or would go, in t.order.
func (t *table) position(i uint32) (int, bool) {
	return slices.BinarySearchFunc(t.order, i, t.cmpRows)
}

func (t *table) orderInsert(i uint32) {
	pos, _ := t.position(i)
	t.order = slices.Insert(t.order, pos, i)
}

func (t *table) orderRemove(i uint32) {
	pos, ok := t.position(i)
	for ; ok && pos < len(t.order) && t.order[pos] != i; pos++ {
	}
	if ok && pos < len(t.order) {
		t.order = slices.Delete(t.order, pos, pos+1)
	}
}

// sortOrder sorts every live row (after a load): by an 8-byte prefix of
// the name first, so most comparisons decode nothing.
func (t *table) sortOrder() {
	type entry struct {
		prefix uint64
		row    uint32
	}
	es := make([]entry, 0, t.live)
	for i := range t.rows {
		if t.rows[i].flags&flagLive == 0 {
			continue
		}
		var p [8]byte
		copy(p[:], t.rec(&t.rows[i]).lower(sName))
		es = append(es, entry{uint64(p[0])<<56 | uint64(p[1])<<48 | uint64(p[2])<<40 | uint64(p[3])<<32 |
			uint64(p[4])<<24 | uint64(p[5])<<16 | uint64(p[6])<<8 | uint64(p[7]), uint32(i)})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return t.cmpRows(a.row, b.row)
	})
	t.order = make([]uint32, len(es))
	for i, e := range es {
		t.order[i] = e.row
	}
}

// Query is a GET /v1/people search.
type Query struct {
	// Q matches, case-insensitively, part of a name, email, extension,
	// directory key (uid, employee number), department or title.
	Q        string
	Statuses []presence.Status // any of these (none: all)
	Account  string            // only this account ("": all)
	Limit    int
	After    *SortKey // the previous page's last person (nil: from the start)
}

// Page is one page of a search, in the board's order.
type Page struct {
	People []Person
	// Total counts every user; Matched those that match the query.
	Total, Matched int
	// Next is the last person's place when more match (nil at the end).
	Next *SortKey
}

// SortKey is a person's place in the board's order.
type SortKey struct {
	Name    string // the display name, lower case
	Account string
	Key     string
}

// sortKey is row i's place.
func (t *table) sortKey(i uint32) SortKey {
	c := t.rec(&t.rows[i])
	return SortKey{Name: string(c.lower(sName)), Account: t.small.strs[t.rows[i].account], Key: string(c.key(sDirKeys + len(t.byDir)))}
}

// after is the first position of t.order past k.
func (t *table) after(k SortKey) int {
	n := sDirKeys + len(t.byDir)
	pos, _ := slices.BinarySearchFunc(t.order, 0, func(i uint32, _ int) int {
		c := t.rec(&t.rows[i])
		if r := bytes.Compare(c.lower(sName), []byte(k.Name)); r != 0 {
			return r
		}
		if r := strings.Compare(t.small.strs[t.rows[i].account], k.Account); r != 0 {
			return r
		}
		if r := bytes.Compare(c.key(n), []byte(k.Key)); r != 0 {
			return r
		}
		return -1 // k's own row is before its successor
	})
	return pos
}

// search answers q: one pass over the order, counting every match and
// keeping the page's.
func (t *table) search(q Query) Page {
	page := Page{Total: t.live}
	needle := []byte(clean(strings.ToLower(strings.TrimSpace(q.Q))))
	var statusOK []bool
	if len(q.Statuses) > 0 {
		statusOK = make([]bool, len(t.small.strs))
		for _, s := range q.Statuses {
			if id, ok := t.small.ids[string(s)]; ok {
				statusOK[id] = true
			}
		}
	}
	account := -1
	if q.Account != "" {
		id, ok := t.small.ids[q.Account]
		if !ok {
			return page
		}
		account = int(id)
	}
	var inMatch []bool // departments and titles that contain the needle
	if len(needle) > 0 {
		inMatch = make([]bool, len(t.in.strs))
		for i, s := range t.in.strs {
			inMatch[i] = s != "" && strings.Contains(strings.ToLower(s), string(needle))
		}
	}
	// First pass, in row order (the arena's, so memory is read in
	// sequence): which rows match, as a bitset. Second, in the board's
	// order from the cursor: the page, which stops once it is full.
	all := account < 0 && statusOK == nil && len(needle) == 0
	var match []uint64
	if all {
		page.Matched = t.live
	} else {
		var text []uint64 // rows whose haystack holds the needle
		if len(needle) > 0 {
			text = t.textMatches(needle)
		}
		match = make([]uint64, (len(t.rows)+63)/64)
		for i := range t.rows {
			r := &t.rows[i]
			if r.flags&flagLive == 0 || account >= 0 && int(r.account) != account || statusOK != nil && !statusOK[r.status] {
				continue
			}
			if text != nil && text[i/64]&(1<<(i%64)) == 0 && !inMatch[r.dept] && !inMatch[r.title] {
				continue
			}
			match[i/64] |= 1 << (i % 64)
			page.Matched++
		}
	}
	start := 0
	if q.After != nil {
		start = t.after(*q.After)
	}
	var out []uint32
	more := false
	for _, i := range t.order[start:] {
		if !all && match[i/64]&(1<<(i%64)) == 0 {
			continue
		}
		if len(out) == q.Limit {
			more = true
			break
		}
		out = append(out, i)
	}
	page.People = make([]Person, len(out))
	for k, i := range out {
		page.People[k] = t.person(i)
	}
	if more {
		k := t.sortKey(out[len(out)-1])
		page.Next = &k
	}
	return page
}

// textMatches scans the haystack slab whole for needle (bytes.Index, at
// memory speed) and marks the rows it is found in: a match names its row
// by the number after its segment; one in a segment no row points at
// any more (garbage) is skipped.
func (t *table) textMatches(needle []byte) []uint64 {
	bits := make([]uint64, (len(t.rows)+63)/64)
	h := t.hay
	for p := 0; p < len(h); {
		k := bytes.Index(h[p:], needle)
		if k < 0 {
			break
		}
		k += p
		end := bytes.IndexByte(h[k:], 1)
		if end < 0 || k+end+5 > len(h) {
			break
		}
		end += k
		i := binary.LittleEndian.Uint32(h[end+1:])
		if int(i) < len(t.rows) && t.rows[i].flags&flagLive != 0 && int(t.rows[i].hayOff) <= k && int(t.rows[i].hayOff)+len(t.haystack(&t.rows[i])) == end {
			bits[i/64] |= 1 << (i % 64)
			p = end + 5
			continue
		}
		p = k + 1 // in a row number, or in garbage
	}
	return bits
}
