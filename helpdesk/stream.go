package helpdesk

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	zsync "github.com/zoomsync/zoomsync/sync"
)

// hub fans the zs:presence channel out to this replica's live views.
type hub struct {
	rdb     redis.UniversalClient
	lookups *lookup
	log     *slog.Logger
	clock   clockwork.Clock
	slots   *streamSlots
	limits  Limits

	mu      sync.Mutex
	clients map[chan []byte]struct{}
}

func newHub(rdb redis.UniversalClient, l *lookup, log *slog.Logger, clock clockwork.Clock, slots *streamSlots, limits Limits) *hub {
	return &hub{rdb: rdb, lookups: l, log: log, clock: clock, slots: slots, limits: limits, clients: map[chan []byte]struct{}{}}
}

// run fans changes out until ctx ends: the read model's (one
// subscription to Redis per replica, the users already re-read), or,
// without one, the channel's (go-redis resubscribes after a lost
// connection by itself).
func (h *hub) run(ctx context.Context) {
	if m := h.lookups.model; m != nil {
		changes, stop := m.Subscribe(streamBuffer)
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-changes:
				if h.watchers() == 0 {
					continue
				}
				b, _ := json.Marshal(presenceOfPerson(&p))
				h.send(b)
			}
		}
	}
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
			if h.watchers() == 0 {
				continue // nobody watches: do not read the record
			}
			for _, u := range zsync.ParseChanges(m.Payload) { // one message per applied batch
				rec, err := h.lookups.store.User(ctx, u.Account, u.Key)
				if err != nil {
					continue
				}
				b, _ := json.Marshal(presenceOf(rec))
				h.send(b)
			}
		}
	}
}

func (h *hub) watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// send gives b to every open stream.
func (h *hub) send(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c <- b:
		default: // a slow viewer misses an update rather than slowing everyone
		}
	}
}

// streamBuffer is how many events a stream holds for a slow viewer before
// it misses some.
const streamBuffer = 256

// stream serves GET /v1/presence/stream: Server-Sent Events, one
// "presence" event (the /v1/presence answer) per status change.
//
// Open streams are capped per process and per token (503
// too_many_streams beyond). A stream is exempt from the server's read and
// write timeouts, which bound ordinary requests; instead every write must
// reach the client within StreamWriteTimeout, so a viewer that stopped
// reading gives its slot back.
func (h *hub) stream(w http.ResponseWriter, req *http.Request) {
	if _, ok := w.(http.Flusher); !ok {
		apiError(w, http.StatusInternalServerError, "no_streaming", "this server cannot stream")
		return
	}
	release, refused := h.slots.acquire(tokenOf(req))
	if release == nil {
		msg := "this replica has as many live streams open as it takes (ZOOMSYNC_STREAM_MAX_CONNECTIONS); retry later"
		if refused == "token" {
			msg = "this token has as many live streams open as it may (ZOOMSYNC_STREAM_MAX_PER_TOKEN); close one or retry later"
		}
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Connection", "close") // a refused client does not keep the connection either
		apiError(w, http.StatusServiceUnavailable, "too_many_streams", msg)
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // the request is read; the stream lives as long as its viewer
	write := func(s string) bool {
		// Connection deadlines are wall-clock time (net.Conn), not the
		// injected clock.
		_ = rc.SetWriteDeadline(time.Now().Add(h.limits.StreamWriteTimeout))
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	c := make(chan []byte, streamBuffer)
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
	if !write(": zoomsync presence stream\n\n") {
		return
	}
	keepAlive := h.clock.NewTicker(h.limits.StreamKeepAlive)
	defer keepAlive.Stop()
	for {
		var ok bool
		select {
		case <-req.Context().Done():
			return
		case <-keepAlive.Chan():
			ok = write(": keep-alive\n\n")
		case b := <-c:
			ok = write("event: presence\ndata: " + string(b) + "\n\n")
		}
		if !ok {
			return // the viewer is gone or stopped reading
		}
	}
}
