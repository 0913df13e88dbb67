package zoomfake

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// WebSocket event subscriptions (GET /ws?subscriptionId=…&access_token=…),
// as Zoom's documentation and the clients in the wild describe them:
//
//   - The token comes in the query string; a missing one is answered
//     {"module":"build_connection","success":false,"content":"token is empty"}
//     and an unknown, expired or other-account one with the invalid-token
//     wording (WSFaults.InvalidTokenWording: Zoom's older "Invalid Token"
//     by default, or its newer "Token is invalid"), then the connection
//     is closed. A good one is answered with build_connection success.
//   - {"module":"heartbeat"} is answered {"module":"heartbeat",
//     "success":true,"content":"live"}; anything else the client sends is
//     ignored (counted as ClientJunk).
//   - An event is {"module":"message","header":{},"content":"<event
//     JSON as a string>"}: double-encoded, as Zoom sends it.
//   - One connection per subscription: a second one closes the first
//     (the rule Zoom's own guidance states). A connection opened while
//     another is still open after a grace of 200 ms (a client closing
//     its old connection before it dials again is not two) counts in
//     Overlaps.
//   - While a connection's token has expired, its next heartbeat is
//     answered with the invalid-token wording and success:false, and the
//     connection is closed (Zoom's documents do not say what it does; this
//     is the harsher choice).
//   - Nothing is stored or replayed: an event sent while no connection is
//     open, or while silenced, is lost (Send reports false), as with Zoom.

// WSFaults are injected into a subscription's connections.
type WSFaults struct {
	// Silent: nothing is sent (no heartbeat answers, no events: Send
	// reports false) while the connection stays open.
	Silent bool
	// Delay is added before every frame the server sends (on the
	// server's clock).
	Delay time.Duration
	// InvalidTokenWording is the content of an invalid-token answer:
	// "Invalid Token" (default) or "Token is invalid".
	InvalidTokenWording string
	// RejectAccountTokens refuses account_credentials tokens: only a
	// client_credentials token connects (the documented form).
	RejectAccountTokens bool
}

// WSStats count what a subscription saw.
type WSStats struct {
	Connections   int // handshakes accepted with a good token
	Refused       int // handshakes answered with a token error
	Open          int // connections open now
	MaxOpen       int // most open at once (after the grace)
	Overlaps      int // connections that found another one still open
	Heartbeats    int // heartbeats received
	ClientJunk    int // other frames received from clients
	Delivered     int // events written to a connection
	Lost          int // events sent with no connection to take them
	Drops         int // connections dropped with Drop
	ClosedByOther int // connections closed because a newer one opened
}

// WSSubscription is an event subscription whose method is WebSocket.
type WSSubscription struct {
	srv *Server
	a   *Account
	id  string

	mu     sync.Mutex
	conns  []*wsConn // open, oldest first
	faults WSFaults
	stats  WSStats
}

type wsConn struct {
	c     *websocket.Conn
	token string
	wmu   sync.Mutex // one writer at a time, in order
}

// WebSocketSubscription adds (or returns) the account's subscription id.
func (a *Account) WebSocketSubscription(id string) *WSSubscription {
	s := a.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subscriptions == nil {
		s.subscriptions = map[string]*WSSubscription{}
	}
	if sub := s.subscriptions[id]; sub != nil {
		return sub
	}
	sub := &WSSubscription{srv: s, a: a, id: id}
	s.subscriptions[id] = sub
	return sub
}

// ID is the subscription id.
func (w *WSSubscription) ID() string { return w.id }

// URL is the endpoint URL the Marketplace shows for the subscription.
func (w *WSSubscription) URL() string {
	return "ws" + strings.TrimPrefix(w.srv.url, "http") + "/ws?subscriptionId=" + w.id
}

// SetFaults replaces the subscription's injected faults.
func (w *WSSubscription) SetFaults(f WSFaults) {
	w.mu.Lock()
	w.faults = f
	w.mu.Unlock()
}

// Stats returns a copy of the counters.
func (w *WSSubscription) Stats() WSStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stats
	st.Open = len(w.conns)
	return st
}

// Connected reports whether a connection is open.
func (w *WSSubscription) Connected() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.conns) > 0
}

// Drop breaks every open connection without a close frame, as a network
// failure or a restarting server does.
func (w *WSSubscription) Drop() {
	w.mu.Lock()
	conns := w.conns
	w.conns = nil
	w.stats.Drops += len(conns)
	w.mu.Unlock()
	for _, c := range conns {
		_ = c.c.CloseNow()
	}
}

// Send delivers ev to the open connection and reports whether it was
// written; false means the event is lost (Zoom never sends it again).
func (w *WSSubscription) Send(ev Event) bool {
	frame, _ := json.Marshal(map[string]any{"module": "message", "header": map[string]any{}, "content": string(ev.Body)})
	ok := w.write(frame, true)
	w.mu.Lock()
	if ok {
		w.stats.Delivered++
	} else {
		w.stats.Lost++
	}
	w.mu.Unlock()
	return ok
}

// ErrNotConnected is SendStatus's error for an event nobody received.
var ErrNotConnected = errors.New("zoomfake: no WebSocket connection open: the event is lost")

// SendStatus is Send in the shape of SimOptions.Send: 200 when the event
// was written, else 0 and ErrNotConnected.
func (w *WSSubscription) SendStatus(_ context.Context, ev Event) (int, error) {
	if w.Send(ev) {
		return http.StatusOK, nil
	}
	return 0, ErrNotConnected
}

// SendRaw writes text as a frame as it is (malformed frames, unknown
// modules); false when nothing is connected.
func (w *WSSubscription) SendRaw(text string) bool { return w.write([]byte(text), true) }

// SendBinary writes a binary frame (Zoom sends text only).
func (w *WSSubscription) SendBinary(b []byte) bool {
	c := w.current()
	if c == nil {
		return false
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.c.Write(ctx, websocket.MessageBinary, b) == nil
}

func (w *WSSubscription) current() *wsConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.conns) == 0 || w.faults.Silent {
		return nil
	}
	return w.conns[len(w.conns)-1]
}

// write sends one text frame to the newest open connection.
func (w *WSSubscription) write(frame []byte, delayed bool) bool {
	c := w.current()
	if c == nil {
		return false
	}
	return w.writeTo(c, frame, delayed)
}

func (w *WSSubscription) writeTo(c *wsConn, frame []byte, delayed bool) bool {
	w.mu.Lock()
	delay := w.faults.Delay
	w.mu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if delayed && delay > 0 {
		w.srv.clock.Sleep(delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.c.Write(ctx, websocket.MessageText, frame) == nil
}

func (w *WSSubscription) remove(c *wsConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.conns {
		if x == c {
			w.conns = append(w.conns[:i], w.conns[i+1:]...)
			return
		}
	}
}

// frameJSON is one server frame.
func frameJSON(module string, success bool, content string) []byte {
	b, _ := json.Marshal(map[string]any{"module": module, "success": success, "content": content, "header": map[string]any{}})
	return b
}

// overlapGrace lets a client's closing connection end before a new one
// counts as a second.
const overlapGrace = 200 * time.Millisecond

// handleWebSocket serves GET /ws.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sub := s.subscriptions[r.URL.Query().Get("subscriptionId")]
	s.mu.Unlock()
	if sub == nil {
		writeError(w, http.StatusNotFound, 404, "subscription not found")
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{c: conn, token: r.URL.Query().Get("access_token")}
	if why := s.refuseSocketToken(sub, c.token); why != "" {
		sub.mu.Lock()
		sub.stats.Refused++
		sub.mu.Unlock()
		sub.writeTo(c, frameJSON("build_connection", false, why), false)
		_ = conn.Close(websocket.StatusPolicyViolation, why)
		return
	}
	s.takeOver(sub, c)
	defer func() {
		sub.remove(c)
		_ = conn.CloseNow()
	}()
	sub.writeTo(c, frameJSON("build_connection", true, "build connection success"), true)
	for {
		typ, data, err := conn.Read(context.Background())
		if err != nil {
			return
		}
		var f struct {
			Module string `json:"module"`
		}
		if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil || f.Module != "heartbeat" {
			sub.mu.Lock()
			sub.stats.ClientJunk++
			sub.mu.Unlock()
			continue
		}
		sub.mu.Lock()
		sub.stats.Heartbeats++
		silent := sub.faults.Silent
		wording := sub.invalidWording()
		sub.mu.Unlock()
		if why := s.refuseSocketToken(sub, c.token); why != "" {
			sub.writeTo(c, frameJSON("heartbeat", false, wording), false)
			_ = conn.Close(websocket.StatusPolicyViolation, why)
			return
		}
		if !silent {
			sub.writeTo(c, frameJSON("heartbeat", true, "live"), true)
		}
	}
}

// takeOver registers c as the subscription's connection and closes any
// older one still open after the grace (counted as an overlap).
func (s *Server) takeOver(sub *WSSubscription, c *wsConn) {
	deadline := time.Now().Add(overlapGrace)
	for {
		sub.mu.Lock()
		if len(sub.conns) == 0 || time.Now().After(deadline) {
			break
		}
		sub.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	old := sub.conns
	if len(old) > 0 {
		sub.stats.Overlaps++
		sub.stats.ClosedByOther += len(old)
	}
	sub.conns = []*wsConn{c}
	sub.stats.Connections++
	sub.stats.MaxOpen = max(sub.stats.MaxOpen, len(old)+1)
	sub.mu.Unlock()
	for _, o := range old {
		// Close waits for the peer's answer: not on the new connection's time.
		go func() {
			_ = o.c.Close(websocket.StatusNormalClosure, "another connection was opened for this subscription")
		}()
	}
}

func (w *WSSubscription) invalidWording() string {
	if w.faults.InvalidTokenWording != "" {
		return w.faults.InvalidTokenWording
	}
	return "Invalid Token"
}

// refuseSocketToken says why tok may not connect sub ("" when it may).
func (s *Server) refuseSocketToken(sub *WSSubscription, tok string) string {
	if tok == "" {
		return "token is empty"
	}
	s.mu.Lock()
	it, ok := s.tokens[tok]
	s.mu.Unlock()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	switch {
	case !ok, it.account != sub.a.spec.ID, !s.clock.Now().Before(it.expiry):
		return sub.invalidWording()
	case sub.faults.RejectAccountTokens && it.grant != "client_credentials":
		return sub.invalidWording()
	}
	return ""
}
