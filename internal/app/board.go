package app

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

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

// hub fans the zs:presence channel out to this replica's live views.
type hub struct {
	rdb     redis.UniversalClient
	lookups *lookup
	log     *slog.Logger

	mu      sync.Mutex
	clients map[chan []byte]struct{}
}

func newHub(rdb redis.UniversalClient, l *lookup, log *slog.Logger) *hub {
	return &hub{rdb: rdb, lookups: l, log: log, clients: map[chan []byte]struct{}{}}
}

// run listens to the channel until ctx ends (go-redis resubscribes after
// a lost connection by itself).
func (h *hub) run(ctx context.Context) {
	sub := h.rdb.Subscribe(ctx, zsync.PresenceChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			h.mu.Lock()
			n := len(h.clients)
			h.mu.Unlock()
			if n == 0 {
				continue // nobody watches: do not read the record
			}
			account, user, _ := strings.Cut(m.Payload, "\t")
			rec, err := h.lookups.store.User(ctx, account, user)
			if err != nil {
				continue
			}
			b, _ := json.Marshal(presenceOf(rec))
			h.mu.Lock()
			for c := range h.clients {
				select {
				case c <- b:
				default: // a slow viewer misses an update rather than slowing everyone
				}
			}
			h.mu.Unlock()
		}
	}
}

// stream serves GET /v1/presence/stream: Server-Sent Events, one
// "presence" event (the /v1/presence answer) per status change.
func (h *hub) stream(w http.ResponseWriter, req *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		apiError(w, http.StatusInternalServerError, "no_streaming", "this server cannot stream")
		return
	}
	c := make(chan []byte, 256)
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": zoomsync presence stream\n\n")
	flusher.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-req.Context().Done():
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case b := <-c:
			fmt.Fprintf(w, "event: presence\ndata: %s\n\n", b)
		}
		flusher.Flush()
	}
}

// person is one row of GET /v1/people.
type person struct {
	presenceView
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
		p := person{presenceView: presenceOf(rec), Department: cmp.Or(f[zsync.FieldDirDepartment], f[zsync.FieldDept]),
			Title: f[zsync.FieldDirTitle], Extension: f[zsync.FieldExtension]}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b person) int { return strings.Compare(a.DisplayName, b.DisplayName) })
	writeJSON(w, http.StatusOK, map[string]any{"people": out})
}
