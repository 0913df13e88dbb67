package helpdesk

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/readmodel"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// person is one row of GET /v1/people.
type person struct {
	Presence
	Department string `json:"department"`
	Title      string `json:"title"`
	Extension  string `json:"extension"`
}

// peoplePage is GET /v1/people's answer: a page of the people matching
// the query, in personKey order, with the counts the board shows ("N of
// M") and the cursor of the next page (absent on the last).
type peoplePage struct {
	People     []person `json:"people"`
	Total      int      `json:"total"`   // people across all accounts
	Matched    int      `json:"matched"` // of those, the ones matching q, status and account
	NextCursor string   `json:"next_cursor,omitempty"`
}

// peopleQuery is a parsed GET /v1/people request.
type peopleQuery struct {
	q        string                   // lower case; "" matches everyone
	statuses map[presence.Status]bool // empty: any status
	account  string                   // "": every account
	limit    int
	after    *personKey // the cursor: the last row of the previous page
}

// People pages default to this many rows, and take at most maxPeoplePage.
const (
	defaultPeoplePage = 50
	maxPeoplePage     = 500
)

// parsePeopleQuery reads q, status (comma-separated SPEC §5 statuses),
// account (one of accounts), limit (1..500) and cursor, or answers 400
// with what is wrong and returns false.
func parsePeopleQuery(w http.ResponseWriter, v url.Values, accounts []string) (peopleQuery, bool) {
	pq := peopleQuery{q: strings.ToLower(strings.TrimSpace(v.Get("q"))), limit: defaultPeoplePage}
	if keyTooLong(w, pq.q) {
		return pq, false
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPeoplePage {
			apiError(w, http.StatusBadRequest, "bad_limit", "limit must be a whole number from 1 to "+strconv.Itoa(maxPeoplePage))
			return pq, false
		}
		pq.limit = n
	}
	if s := strings.TrimSpace(v.Get("status")); s != "" {
		pq.statuses = map[presence.Status]bool{}
		for _, name := range strings.Split(s, ",") {
			st, err := presence.ParseStatus(name)
			if err != nil {
				apiError(w, http.StatusBadRequest, "bad_status", "status: "+err.Error())
				return pq, false
			}
			pq.statuses[st] = true
		}
	}
	if a := strings.TrimSpace(v.Get("account")); a != "" {
		if !slices.Contains(accounts, a) {
			apiError(w, http.StatusBadRequest, "bad_account", "account "+strconv.Quote(truncate(a, 64))+" is not one of the configured accounts")
			return pq, false
		}
		pq.account = a
	}
	if c := v.Get("cursor"); c != "" {
		k, ok := decodeCursor(c)
		if !ok {
			apiError(w, http.StatusBadRequest, "bad_cursor", "cursor is not one this API gave (take next_cursor from the previous page as it is)")
			return pq, false
		}
		pq.after = &k
	}
	return pq, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// personKey orders people: display name case-insensitively, then
// account, then Zoom user key, so pages are stable whichever replica or
// scan order answers.
type personKey struct {
	Name    string `json:"n"` // lower-cased display name
	Account string `json:"a"`
	Key     string `json:"k"`
}

func (k personKey) compare(o personKey) int {
	return cmp.Or(strings.Compare(k.Name, o.Name), strings.Compare(k.Account, o.Account), strings.Compare(k.Key, o.Key))
}

// A cursor is the previous page's last personKey, JSON in base64url: it
// stays right when people are added or removed between pages (no
// offsets), and callers treat it as opaque.
func encodeCursor(k personKey) string {
	b, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (personKey, bool) {
	var k personKey
	if len(s) > 4*MaxKeyBytes {
		return k, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &k) != nil || k.Account == "" || k.Key == "" {
		return personKey{}, false
	}
	return k, true
}

// peopleScanFields are the fields read for every person: what q searches
// (the first peopleSearched of them), then what the status and the sort
// key are made from.
var peopleScanFields = []string{zsync.FieldEmail, zsync.FieldDisplayName, zsync.FieldFirstName, zsync.FieldLastName, zsync.FieldDept,
	zsync.FieldExtension, zsync.FieldDirDisplayName, zsync.FieldDirDepartment, zsync.FieldDirTitle, zsync.FieldDirUID,
	zsync.FieldStatus, zsync.FieldPresence, zsync.FieldCallState}

const peopleSearched = 10

// Positions in peopleScanFields.
const (
	scanDisplayName, scanFirstName, scanLastName = 1, 2, 3
	scanDirDisplayName                           = 6
	scanStatus, scanPresence, scanCallState      = 10, 11, 12
)

// people serves GET /v1/people: every account's people in personKey
// order, narrowed by q (contained, case-insensitively, in the name,
// email, department, title, extension or directory uid), status and
// account, a page at a time. It reads every user's search fields from
// Redis on each call: correct at any size, slow at 100,000 people.
func (l *lookup) people(w http.ResponseWriter, req *http.Request) {
	pq, ok := parsePeopleQuery(w, req.URL.Query(), l.accounts)
	if !ok {
		return
	}
	if l.model != nil && l.model.Ready() {
		writeJSON(w, http.StatusOK, peopleFromModel(l.model, pq))
		return
	}
	var page peoplePage
	var after []personKey // matching people after the cursor
	for _, a := range l.accounts {
		err := l.store.ScanUsers(req.Context(), a, peopleScanFields, func(key, userStatus string, v []string) {
			page.Total++
			if pq.account != "" && a != pq.account {
				return
			}
			if pq.q != "" && !slices.ContainsFunc(v[:peopleSearched], func(s string) bool { return strings.Contains(strings.ToLower(s), pq.q) }) {
				return
			}
			if len(pq.statuses) > 0 {
				st := presence.Status(v[scanStatus])
				if st == "" { // recorded before effective statuses were kept
					st = presence.Effective(presence.Sources{Presence: presence.Status(v[scanPresence]), OnCall: v[scanCallState] == "on_call", UserStatus: userStatus})
				}
				if !pq.statuses[st] {
					return
				}
			}
			page.Matched++
			name := cmp.Or(v[scanDisplayName], strings.TrimSpace(v[scanFirstName]+" "+v[scanLastName]), v[scanDirDisplayName]) // as displayName
			k := personKey{Name: strings.ToLower(name), Account: a, Key: key}
			if pq.after == nil || k.compare(*pq.after) > 0 {
				after = append(after, k)
			}
		})
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
			return
		}
	}
	slices.SortFunc(after, personKey.compare)
	if len(after) > pq.limit {
		after = after[:pq.limit]
		page.NextCursor = encodeCursor(after[len(after)-1])
	}
	refs := make([]zsync.UserRef, len(after))
	for i, k := range after {
		refs[i] = zsync.UserRef{Account: k.Account, Key: k.Key}
	}
	recs, err := l.store.Records(req.Context(), refs)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
		return
	}
	page.People = make([]person, 0, len(recs))
	for _, rec := range recs {
		f := rec.Fields
		if f[zsync.FieldUserStatus] == zsync.StatusDeleted {
			continue // deleted since the scan
		}
		page.People = append(page.People, person{Presence: presenceOf(rec), Department: cmp.Or(f[zsync.FieldDirDepartment], f[zsync.FieldDept]),
			Title: f[zsync.FieldDirTitle], Extension: f[zsync.FieldExtension]})
	}
	writeJSON(w, http.StatusOK, page)
}

// peopleFromModel answers a query from the read model: the same order,
// counts and cursors as the scan below, in milliseconds at 100,000
// people.
func peopleFromModel(m *readmodel.Model, pq peopleQuery) peoplePage {
	q := readmodel.Query{Q: pq.q, Account: pq.account, Limit: pq.limit}
	for st := range pq.statuses {
		q.Statuses = append(q.Statuses, st)
	}
	if pq.after != nil {
		q.After = &readmodel.SortKey{Name: pq.after.Name, Account: pq.after.Account, Key: pq.after.Key}
	}
	res := m.Search(q)
	page := peoplePage{Total: res.Total, Matched: res.Matched, People: make([]person, len(res.People))}
	for i := range res.People {
		p := &res.People[i]
		page.People[i] = person{Presence: presenceOfPerson(p), Department: p.Department, Title: p.Title, Extension: p.Extension}
	}
	if res.Next != nil {
		page.NextCursor = encodeCursor(personKey{Name: res.Next.Name, Account: res.Next.Account, Key: res.Next.Key})
	}
	return page
}
