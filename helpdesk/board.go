package helpdesk

import (
	"cmp"
	_ "embed"
	"net/http"
	"slices"
	"strconv"
	"strings"

	zsync "github.com/zoomsync/zoomsync/sync"
)

// boardHTML is the live presence board: plain HTML, CSS and JS, no build
// step.
//
//go:embed board.html
var boardHTML []byte

func serveBoard(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(boardHTML)
}

// person is one row of GET /v1/people.
type person struct {
	Presence
	Department string `json:"department"`
	Title      string `json:"title"`
	Extension  string `json:"extension"`
}

// people serves GET /v1/people?q=…&limit=…: users whose name, email,
// department, extension or directory uid contains q (case-insensitive),
// for the board's search. It scans every user: fine for a helpdesk's
// searches, not for a machine's polling (use /v1/presence for that).
func (l *lookup) people(w http.ResponseWriter, req *http.Request) {
	q := strings.ToLower(strings.TrimSpace(req.URL.Query().Get("q")))
	if keyTooLong(w, q) {
		return
	}
	limit := 50
	if s := req.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			apiError(w, http.StatusBadRequest, "bad_limit", "limit must be a whole number from 1 to 500")
			return
		}
		limit = n
	}
	fields := []string{zsync.FieldEmail, zsync.FieldDisplayName, zsync.FieldFirstName, zsync.FieldLastName, zsync.FieldDept,
		zsync.FieldExtension, zsync.FieldDirDisplayName, zsync.FieldDirDepartment, zsync.FieldDirTitle, zsync.FieldDirUID}
	var keys []zsync.UserRef
	for _, a := range l.accounts {
		if len(keys) >= limit {
			break
		}
		err := l.store.ScanUsers(req.Context(), a, fields, func(key, _ string, v []string) {
			if len(keys) >= limit {
				return
			}
			if q == "" || slices.ContainsFunc(v, func(s string) bool { return strings.Contains(strings.ToLower(s), q) }) {
				keys = append(keys, zsync.UserRef{Account: a, Key: key})
			}
		})
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
			return
		}
	}
	out := make([]person, 0, len(keys))
	for _, k := range keys {
		rec, err := l.store.User(req.Context(), k.Account, k.Key)
		if err != nil {
			continue
		}
		f := rec.Fields
		p := person{Presence: presenceOf(rec), Department: cmp.Or(f[zsync.FieldDirDepartment], f[zsync.FieldDept]),
			Title: f[zsync.FieldDirTitle], Extension: f[zsync.FieldExtension]}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b person) int { return strings.Compare(a.DisplayName, b.DisplayName) })
	writeJSON(w, http.StatusOK, map[string]any{"people": out})
}
