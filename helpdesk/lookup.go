package helpdesk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/readmodel"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// lookup answers the helpdesk API's questions about one person.
type lookup struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	accounts []string
	clock    clockwork.Clock
	model    *readmodel.Model // nil: none

	mu    sync.Mutex
	cache map[string]resolved // key (lower case) → the one user it named
}

// resolve finds the users a key names: a Zoom user id, an email (Zoom's,
// or the linked directory entry's), a phone extension, a directory uid or
// employee number. Several distinct users mean the key is ambiguous.
//
// A key that named exactly one user is remembered for a few seconds, and
// the remembered answer is used only if the record read still carries the
// key (so an email moved to another user is noticed at once); what the
// cache can delay, by at most its TTL, is noticing that a second user
// took the same key.
func (l *lookup) resolve(ctx context.Context, key string) ([]*zsync.Record, error) {
	key = strings.TrimSpace(key)
	ck := strings.ToLower(key)
	if ref, ok := l.cached(ck); ok {
		recs, err := l.store.Records(ctx, []zsync.UserRef{ref})
		if err != nil {
			return nil, err
		}
		if len(recs) == 1 && carries(recs[0], key) {
			return recs, nil
		}
	}
	recs, err := l.lookUp(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(recs) == 1 && carries(recs[0], key) {
		l.remember(ck, zsync.UserRef{Account: recs[0].Account, Key: recs[0].Key})
	}
	return recs, nil
}

// find resolves a key to the presence of the users it names: from the
// read model when it holds the key, else from Redis (resolve).
func (l *lookup) find(ctx context.Context, key string) ([]Presence, error) {
	if l.model != nil {
		if people, held := l.model.Lookup(key); held {
			out := make([]Presence, len(people))
			for i := range people {
				out[i] = presenceOfPerson(&people[i])
			}
			return out, nil
		}
	}
	recs, err := l.resolve(ctx, key)
	if err != nil {
		return nil, err
	}
	out := make([]Presence, len(recs))
	for i, r := range recs {
		out[i] = presenceOf(r)
	}
	return out, nil
}

// records resolves a key to the records of the users it names: the read
// model names them when it holds the key (one round trip for the
// records), else resolve asks Redis.
func (l *lookup) records(ctx context.Context, key string) ([]*zsync.Record, error) {
	if l.model != nil {
		if people, held := l.model.Lookup(key); held {
			refs := make([]zsync.UserRef, len(people))
			for i, p := range people {
				refs[i] = zsync.UserRef{Account: p.Account, Key: p.Key}
			}
			recs, err := l.store.Records(ctx, refs)
			if err != nil {
				return nil, err
			}
			if len(recs) == len(refs) && !slices.ContainsFunc(recs, (*zsync.Record).Deleted) {
				return recs, nil
			}
			// A user went since the model read it: ask Redis.
		}
	}
	return l.resolve(ctx, key)
}

// lookUp finds the live records a key names in one round trip of index
// reads (the Zoom side's and the mapping's lookup indices) and one of
// record reads.
func (l *lookup) lookUp(ctx context.Context, key string) ([]*zsync.Record, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, nil
	}
	var zoom, dir func() []zsync.UserRef
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		zoom = l.store.ProbeKey(ctx, p, l.accounts, key)
		dir = mapstore.ProbeKey(ctx, p, key)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisconn.Classify("helpdesk.lookUp", err)
	}
	var refs []zsync.UserRef
	seen := map[zsync.UserRef]bool{}
	for _, r := range append(zoom(), dir()...) {
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	return l.store.Records(ctx, refs)
}

// keyKinds names what a key can be, for the API's messages: "Zoom id,
// email, extension, directory uid or employee number".
var keyKinds = func() string {
	kinds := append([]string{"Zoom id", "email", "extension"}, mapstore.KeyNames()...)
	return strings.Join(kinds[:len(kinds)-1], ", ") + " or " + kinds[len(kinds)-1]
}()

// resolveTTL bounds how long a resolved key is remembered.
const resolveTTL = 5 * time.Second

type resolved struct {
	ref     zsync.UserRef
	expires time.Time
}

func (l *lookup) cached(k string) (zsync.UserRef, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.cache[k]
	if !ok || l.clock.Now().After(e.expires) {
		return zsync.UserRef{}, false
	}
	return e.ref, true
}

func (l *lookup) remember(k string, ref zsync.UserRef) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cache == nil || len(l.cache) > 200_000 {
		l.cache = map[string]resolved{} // bounded: start over rather than grow
	}
	l.cache[k] = resolved{ref: ref, expires: l.clock.Now().Add(resolveTTL)}
}

// carries reports whether the record answers to key by itself.
func carries(r *zsync.Record, key string) bool {
	f := r.Fields
	return r.Key == key || strings.EqualFold(f[zsync.FieldEmail], key) || (f[zsync.FieldExtension] != "" && f[zsync.FieldExtension] == key) ||
		mapstore.Carries(f, key)
}

// Presence is the SPEC §4 answer of GET /v1/presence/{key}.
type Presence struct {
	AccountID   string             `json:"account_id"`
	ZoomUserID  string             `json:"zoom_user_id"`
	Email       string             `json:"email"`
	DisplayName string             `json:"display_name"`
	Status      presence.Status    `json:"status"`
	ZoomStatus  string             `json:"zoom_status"`
	Since       *string            `json:"since"`
	OnCall      bool               `json:"on_call"`
	AgentStatus *string            `json:"agent_status"`
	UserStatus  string             `json:"user_status"`
	Directory   *PresenceDirectory `json:"directory"`
	// ConfirmedAt is when Zoom last confirmed the presence (a webhook or a
	// REST read): a status is never shown as fresher than this.
	ConfirmedAt *string `json:"confirmed_at"`
}

// PresenceDirectory is the linked directory entry of a Presence.
type PresenceDirectory struct {
	DN             string `json:"dn"`
	UID            string `json:"uid"`
	EmployeeNumber string `json:"employee_number"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func displayName(f map[string]string) string {
	return readmodel.DisplayName(func(k string) string { return f[k] })
}

func msOptional(ms int64) *string {
	if ms <= 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
	return &t
}

// presenceOfPerson is presenceOf for what the read model holds.
func presenceOfPerson(p *readmodel.Person) Presence {
	v := Presence{
		AccountID: p.Account, ZoomUserID: p.Key, Email: p.Email, DisplayName: p.DisplayName,
		Status: p.Status, ZoomStatus: p.ZoomStatus, Since: msOptional(p.StatusSince), OnCall: p.OnCall,
		AgentStatus: optional(p.AgentStatus), UserStatus: p.UserStatus, ConfirmedAt: msOptional(p.ConfirmedAt),
	}
	if p.Linked {
		v.Directory = &PresenceDirectory{DN: p.DN, UID: p.Dir(zsync.FieldDirUID), EmployeeNumber: p.Dir(zsync.FieldDirEmployeeNumber)}
	}
	return v
}

func msTime(s string) *string {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
	return &t
}

func presenceOf(r *zsync.Record) Presence {
	f := r.Fields
	onCall := f[zsync.FieldCallState] == "on_call"
	status := presence.Status(f[zsync.FieldStatus])
	if status == "" { // recorded before effective statuses were kept
		status = presence.Effective(presence.Sources{Presence: presence.Status(f[zsync.FieldPresence]), OnCall: onCall, UserStatus: f[zsync.FieldUserStatus]})
	}
	v := Presence{
		AccountID: r.Account, ZoomUserID: r.Key, Email: f[zsync.FieldEmail], DisplayName: displayName(f),
		Status: status, ZoomStatus: f[zsync.FieldZoomStatus], Since: msTime(f[zsync.FieldStatusSince]), OnCall: onCall,
		AgentStatus: optional(f[zsync.FieldAgentStatus]), UserStatus: f[zsync.FieldUserStatus], ConfirmedAt: msTime(f[zsync.FieldConfirmedAt]),
	}
	if f[zsync.FieldDirID] != "" {
		v.Directory = &PresenceDirectory{DN: f[zsync.FieldDirDN], UID: f[zsync.FieldDirUID], EmployeeNumber: f[zsync.FieldDirEmployeeNumber]}
	}
	return v
}

// one resolves the path's key to exactly one record, or answers the
// error (404, 409 with the candidates, 503) and returns nil.
func (l *lookup) one(w http.ResponseWriter, req *http.Request) *zsync.Record {
	key := req.PathValue("key")
	if keyTooLong(w, key) {
		return nil
	}
	recs, err := l.records(req.Context(), key)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
		return nil
	}
	ps := make([]Presence, len(recs))
	for i, r := range recs {
		ps[i] = presenceOf(r)
	}
	if !exactlyOne(w, ps) {
		return nil
	}
	return recs[0]
}

// exactlyOne answers 404 or 409 (with the candidates) unless ps holds
// one person.
func exactlyOne(w http.ResponseWriter, ps []Presence) bool {
	switch {
	case len(ps) == 0:
		apiError(w, http.StatusNotFound, "not_found", "no user has this "+keyKinds)
		return false
	case len(ps) > 1:
		writeJSON(w, http.StatusConflict, map[string]any{"error": map[string]any{"code": "ambiguous",
			"message": strconv.Itoa(len(ps)) + " users match this key; ask by Zoom user id", "candidates": candidates(ps)}})
		return false
	}
	return true
}

func (l *lookup) presence(w http.ResponseWriter, req *http.Request) {
	key := req.PathValue("key")
	if keyTooLong(w, key) {
		return
	}
	ps, err := l.find(req.Context(), key)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
		return
	}
	if exactlyOne(w, ps) {
		writeJSON(w, http.StatusOK, ps[0])
	}
}

// history serves GET /v1/presence/{key}/history?since=RFC3339|duration:
// the user's status changes since then (default: the last 24 hours).
func (l *lookup) history(w http.ResponseWriter, req *http.Request) {
	if keyTooLong(w, req.PathValue("key")) {
		return
	}
	since := l.clock.Now().Add(-24 * time.Hour)
	if q := req.URL.Query().Get("since"); q != "" {
		if t, err := time.Parse(time.RFC3339, q); err == nil {
			since = t
		} else if d, err := time.ParseDuration(q); err == nil && d > 0 {
			since = l.clock.Now().Add(-d)
		} else {
			apiError(w, http.StatusBadRequest, "bad_since", "since must be an RFC 3339 time (2026-12-01T08:00:00Z) or a duration (8h)")
			return
		}
	}
	r := l.one(w, req)
	if r == nil {
		return
	}
	changes, err := l.store.History(req.Context(), r.Account, r.Key, since)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
		return
	}
	type change struct {
		Status   string    `json:"status"`
		Previous string    `json:"previous_status"`
		At       time.Time `json:"at"`
		Seq      int64     `json:"seq"`
	}
	out := make([]change, len(changes))
	for i, c := range changes {
		out[i] = change{c.Status, c.Previous, c.At.UTC(), c.Seq}
	}
	writeJSON(w, http.StatusOK, map[string]any{"account_id": r.Account, "zoom_user_id": r.Key, "since": since.UTC(), "changes": out})
}

// maxBulkKeys bounds GET /v1/presence?key=….
const maxBulkKeys = 500

// bulk serves GET /v1/presence?key=a&key=b…: an object keyed by the asked
// keys; a key no user has maps to null, an ambiguous key to its error.
func (l *lookup) bulk(w http.ResponseWriter, req *http.Request) {
	keys := req.URL.Query()["key"]
	switch {
	case len(keys) == 0:
		apiError(w, http.StatusBadRequest, "no_keys", "ask with ?key=…&key=… ("+keyKinds+")")
		return
	case len(keys) > maxBulkKeys:
		apiError(w, http.StatusBadRequest, "too_many_keys", "at most 500 keys per request")
		return
	}
	for _, k := range keys {
		if keyTooLong(w, k) {
			return
		}
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		ps, err := l.find(req.Context(), k)
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
			return
		}
		switch len(ps) {
		case 0:
			out[k] = nil
		case 1:
			out[k] = ps[0]
		default:
			out[k] = map[string]any{"error": map[string]any{"code": "ambiguous", "message": strconv.Itoa(len(ps)) + " users match this key",
				"candidates": candidates(ps)}}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Candidate is one of the users an ambiguous key names.
type Candidate struct {
	AccountID  string `json:"account_id"`
	ZoomUserID string `json:"zoom_user_id"`
	Email      string `json:"email"`
}

func candidates(ps []Presence) []Candidate {
	c := make([]Candidate, len(ps))
	for i, p := range ps {
		c[i] = Candidate{p.AccountID, p.ZoomUserID, p.Email}
	}
	return c
}

// versionView explains one field's version.
type versionView struct {
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
	Source  string    `json:"source"` // webhook, pull (or mapping, for directory fields)
}

// callView is one open call of GET /v1/users/{key}.
type callView struct {
	ID    string    `json:"id"`
	Since time.Time `json:"since"` // when the call began (its event's time)
}

func (l *lookup) user(w http.ResponseWriter, req *http.Request) {
	r := l.one(w, req)
	if r == nil {
		return
	}
	zoom := map[string]string{}
	dir := map[string]string{}
	for k, v := range r.Fields {
		if k == zsync.FieldMapping || k == zsync.FieldCalls {
			continue // shown apart: mapping, and calls as a list
		}
		if strings.HasPrefix(k, "dir_") {
			if v != "" {
				dir[strings.TrimPrefix(k, "dir_")] = v
			}
			continue
		}
		zoom[k] = v
	}
	versions := map[string]versionView{}
	for k, v := range r.Versions {
		vv := versionView{Version: int64(v), At: v.Time().UTC(), Source: "pull"}
		switch {
		case k == zsync.FieldMapping || strings.HasPrefix(k, "dir_"):
			vv.Source = "mapping"
		case v.FromWebhook():
			vv.Source = "webhook"
		}
		versions[k] = vv
	}
	var directory any // null when unlinked
	if dir["id"] != "" {
		directory = dir
	}
	calls := []callView{}
	for _, c := range r.Calls() {
		if c.Open {
			calls = append(calls, callView{ID: c.ID, Since: c.Version.Time().UTC()})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"account_id": r.Account, "zoom_user_id": r.Key, "zoom": zoom, "directory": directory,
		"mapping": r.Fields[zsync.FieldMapping], "presence": presenceOf(r), "calls": calls, "versions": versions,
	})
}

// report serves GET /v1/mapping/report: the counts, and a page of one
// category (?category=…&offset=…&limit=…) or the first page of each.
func (l *lookup) report(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if !enabled {
			apiError(w, http.StatusNotFound, "directory_not_configured", "no directory is configured (set LDAP_URL): there is nothing to map against")
			return
		}
		q := req.URL.Query()
		limit, err := strconv.ParseInt(q.Get("limit"), 10, 64)
		if q.Get("limit") == "" {
			limit, err = 100, nil
		}
		if err != nil || limit < 1 || limit > 1000 {
			apiError(w, http.StatusBadRequest, "bad_limit", "limit must be a whole number from 1 to 1000")
			return
		}
		offset, err := strconv.ParseInt(q.Get("offset"), 10, 64)
		if q.Get("offset") == "" {
			offset, err = 0, nil
		}
		if err != nil || offset < 0 {
			apiError(w, http.StatusBadRequest, "bad_offset", "offset must be a whole number ≥ 0")
			return
		}
		cats := mapstore.ReportCategories
		if c := q.Get("category"); c != "" {
			if !slices.Contains(mapstore.ReportCategories, c) {
				apiError(w, http.StatusBadRequest, "bad_category", "category must be one of "+strings.Join(mapstore.ReportCategories, ", "))
				return
			}
			cats = []string{c}
		}
		_, meta, err := mapstore.ReportPage(req.Context(), l.rdb, "", 0, 0)
		if err != nil {
			apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
			return
		}
		if meta["computed_at"] == "" {
			apiError(w, http.StatusServiceUnavailable, "not_ready", "no mapping computed yet: waiting for a complete directory read and a full pull")
			return
		}
		counts := map[string]int{}
		for _, c := range append(slices.Clone(mapstore.ReportCounts), mapstore.ReportCategories...) {
			counts[c] = mapstore.ParseCount(meta, c)
		}
		out := map[string]any{"computed_at": meta["computed_at"], "counts": counts}
		if s := meta["snapshot"]; s != "" {
			out["directory_snapshot"] = json.RawMessage(s)
		}
		for _, c := range cats {
			items, _, err := mapstore.ReportPage(req.Context(), l.rdb, c, offset, limit)
			if err != nil {
				apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
				return
			}
			page := map[string]any{"count": counts[c], "offset": offset, "items": items}
			if next := offset + int64(len(items)); next < int64(counts[c]) {
				page["next_offset"] = next
			}
			out[c] = page
		}
		writeJSON(w, http.StatusOK, out)
	}
}
