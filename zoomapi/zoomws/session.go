package zoomws

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// OutcomeIgnored is an event that is not stored: endpoint.url_validation,
// which means nothing on a socket.
const OutcomeIgnored = "ignored"

// sessionEnd says why one connection ended.
type sessionEnd struct {
	reason    string
	err       error
	connected bool // build_connection (or any frame) arrived first
}

// session is one connection: one reader (this goroutine), one writer
// (heartbeats, in the keeper goroutine), and the keeper's timers.
type session struct {
	c    *Client
	conn *websocket.Conn
	tok  zoomapi.SocketToken

	ctx    context.Context // ends with the session
	cancel context.CancelFunc
	once   sync.Once
	end    sessionEnd

	kick      chan struct{} // a frame arrived: the read deadline starts over
	connected bool
	lastRead  time.Time // when the last frame arrived (the reader's)

	// Events are stored concurrently (up to maxInFlight), so that the
	// inbox's group commit sees many at once; order does not matter (the
	// versions decide). The alive mark may move only up to the oldest
	// event not yet stored.
	slots    chan struct{}
	stores   sync.WaitGroup
	mu       sync.Mutex
	inFlight map[uint64]time.Time // event sequence → when it arrived
	seq      uint64
	lost     bool // an event could not be stored: the alive mark stops
	lastGood time.Time
}

// maxInFlight bounds the events of one connection being stored at once.
const maxInFlight = 64

// good is the moment up to which every event received is stored, given
// that nothing arrived since now; ok is false once an event was lost.
func (s *session) good(now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost {
		return s.lastGood, false
	}
	at := now
	for _, t := range s.inFlight {
		if !t.After(at) {
			at = t.Add(-time.Millisecond)
		}
	}
	s.lastGood = at
	return at, true
}

// finish ends the session once, with the first reason given. A clean end
// (shutdown, lease lost, token about to expire) sends a close frame; any
// other drops the connection at once.
func (s *session) finish(reason string, err error, clean bool) {
	s.once.Do(func() {
		s.end.reason, s.end.err = reason, err
		s.cancel()
		if clean {
			go func() { _ = s.conn.Close(websocket.StatusNormalClosure, reason) }()
		} else {
			_ = s.conn.CloseNow()
		}
	})
}

// session dials the subscription with tok and reads until the connection
// ends.
func (c *Client) session(ctx context.Context, tok zoomapi.SocketToken) sessionEnd {
	c.setState(StateConnecting, "")
	u, err := c.connectURL(tok.Value)
	if err != nil {
		return sessionEnd{reason: ReasonDialFailed, err: err}
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	conn, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: c.opts.HTTPClient})
	cancel()
	if err != nil {
		return sessionEnd{reason: ReasonDialFailed, err: redact(err, tok.Value)}
	}
	conn.SetReadLimit(c.opts.MaxFrameBytes)
	s := &session{c: c, conn: conn, tok: tok, kick: make(chan struct{}, 1),
		slots: make(chan struct{}, maxInFlight), inFlight: map[uint64]time.Time{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	defer s.cancel()

	done := make(chan struct{})
	kept := make(chan struct{})
	go func() { defer close(kept); s.keep(ctx, done) }()
	s.read()
	close(done)
	<-kept
	s.stores.Wait() // the session's end stops their retries
	s.end.connected = s.connected
	last, stored := s.good(s.lastRead)
	lost := !stored
	if s.connected && !lost && c.opts.Marks != nil {
		// A clean end records exactly where the next gap begins.
		mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = c.opts.Marks.MarkAlive(mctx, c.opts.Subscription, last)
		mcancel()
	}
	return s.end
}

// keep runs the session's timers and its one writer: heartbeats every
// Heartbeat, the read deadline (ReadTimeout since the last frame), the
// replacement before the token expires, and the close on shutdown.
func (s *session) keep(ctx context.Context, done <-chan struct{}) {
	c := s.c
	clock := c.opts.Clock
	heartbeat := clock.NewTicker(c.opts.Heartbeat)
	defer heartbeat.Stop()
	deadline := clock.NewTimer(c.opts.ReadTimeout)
	defer deadline.Stop()
	// Replace the connection TokenMargin before its token expires, but
	// never sooner than half the token's remaining life (a short-lived
	// token must not make a reconnect loop).
	left := s.tok.Expiry.Sub(clock.Now())
	renewIn := max(left-c.opts.TokenMargin, left/2)
	if s.tok.Expiry.IsZero() {
		renewIn = 24 * time.Hour
	}
	renew := clock.NewTimer(renewIn)
	defer renew.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			s.finish("shutdown", nil, true) // shutdown or the lease lost
			return
		case <-renew.Chan():
			s.finish(ReasonTokenExpiring, nil, true)
			return
		case <-deadline.Chan():
			s.finish(ReasonSilent, fmt.Errorf("nothing received for %v", c.opts.ReadTimeout), false)
			return
		case <-s.kick:
			deadline.Reset(c.opts.ReadTimeout)
		case <-heartbeat.Chan():
			wctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			err := s.conn.Write(wctx, websocket.MessageText, heartbeatFrame)
			cancel()
			if err != nil {
				s.finish(ReasonClosed, fmt.Errorf("heartbeat not sent: %w", err), false)
				return
			}
		}
	}
}

// read reads frames until the connection ends.
func (s *session) read() {
	c := s.c
	for {
		typ, data, err := s.conn.Read(context.Background()) // ended by finish
		if err != nil {
			s.finish(ReasonClosed, err, false)
			return
		}
		select { // the read deadline starts over
		case s.kick <- struct{}{}:
		default:
		}
		now := c.opts.Clock.Now()
		s.lastRead = now
		if typ != websocket.MessageText {
			c.frame(ModuleMalformed)
			c.malformed("binary frame", nil)
			continue
		}
		f, err := ParseFrame(data)
		if err != nil {
			c.frame(ModuleMalformed)
			c.malformed("malformed frame", err)
			continue
		}
		c.frame(ModuleLabel(f.Module))
		if f.InvalidToken() {
			s.finish(ReasonInvalidToken, fmt.Errorf("zoom answered %s %q", ModuleLabel(f.Module), bounded(f.Content)), false)
			return
		}
		if f.Failed() {
			s.finish(ReasonRefused, fmt.Errorf("zoom answered %s with success:false %q", ModuleLabel(f.Module), bounded(f.Content)), false)
			return
		}
		if !s.connected {
			s.established(now)
		}
		switch f.Module {
		case ModuleHeartbeat:
			if at, ok := s.good(now); ok {
				if c.opts.Marks != nil {
					mctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
					_ = c.opts.Marks.MarkAlive(mctx, c.opts.Subscription, at)
					cancel()
				}
				c.setLastGood(at)
			}
		case ModuleMessage:
			s.message(f.Content, now)
		}
	}
}

// established is the first good frame: the connection counts, and the
// gap since the last stored event is handed to OnGap.
func (s *session) established(now time.Time) {
	c := s.c
	s.connected = true
	start := c.gapStart(s.ctx)
	s.mu.Lock()
	s.lastGood = now
	s.mu.Unlock()
	c.setState(StateConnected, "")
	if c.opts.Marks != nil {
		mctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		_ = c.opts.Marks.MarkAlive(mctx, c.opts.Subscription, now)
		cancel()
	}
	c.setLastGood(now)
	g := Gap{Subscription: c.opts.Subscription, Account: c.opts.Account, Start: start, End: now}
	attrs := []slog.Attr{slog.Time("gap_end", now)}
	if !start.IsZero() {
		attrs = append(attrs, slog.Time("gap_start", start), slog.Float64("gap_seconds", now.Sub(start).Seconds()))
	}
	c.log.LogAttrs(s.ctx, slog.LevelInfo, "websocket subscription connected", attrs...)
	if c.opts.OnGap != nil {
		c.opts.OnGap(s.ctx, g)
	}
}

// gapStart is where the gap before a new connection begins: the last
// alive mark any replica left, else this process's own.
func (c *Client) gapStart(ctx context.Context) time.Time {
	if c.opts.Marks != nil {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		t, err := c.opts.Marks.LastAlive(mctx, c.opts.Subscription)
		cancel()
		if err == nil {
			return t
		}
		c.log.Warn("websocket subscription: last alive mark unreadable; using this replica's", slog.String("error", err.Error()))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastGood
}

func (c *Client) setLastGood(t time.Time) {
	c.mu.Lock()
	c.lastGood = t
	c.mu.Unlock()
}

// message stores a message frame's event in the background, at most
// maxInFlight at once (the reader waits for a slot: backpressure on the
// socket rather than memory).
func (s *session) message(content []byte, now time.Time) {
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		s.mu.Lock()
		s.lost = true
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.seq++
	id := s.seq
	s.inFlight[id] = now
	s.mu.Unlock()
	s.stores.Add(1)
	go func() {
		defer s.stores.Done()
		ok := s.event(content, now)
		s.mu.Lock()
		delete(s.inFlight, id)
		if !ok {
			s.lost = true
		}
		s.mu.Unlock()
		<-s.slots
	}()
}

// event stores one message frame's event in the inbox, as a webhook
// would be, retrying while the connection lasts. It reports false when
// the event was lost (the session ended before it could be stored).
func (s *session) event(content []byte, now time.Time) bool {
	c := s.c
	ev, err := webhook.Decode(content)
	if err != nil {
		c.outcome("", OutcomeMalformed)
		c.malformed("message frame without an event", err)
		return true // nothing to store, nothing lost
	}
	if ev.Name == webhook.EventURLValidation {
		c.outcome(ev.Name, OutcomeIgnored)
		return true
	}
	account := c.opts.Account
	if ev.AccountID != "" && ev.AccountID != account {
		if c.opts.KnownAccount == nil || !c.opts.KnownAccount(ev.AccountID) {
			c.outcome(ev.Name, OutcomeUnknownAccount)
			c.malformed("event of an account not configured", nil)
			return true
		}
		account = ev.AccountID
	}
	d := webhook.Delivery{AccountID: account, Event: ev, ReceivedAt: now, Intake: webhook.IntakeWebSocket}
	bo := c.newBackoff()
	bo.InitialInterval, bo.MaxInterval = 100*time.Millisecond, 2*time.Second
	bo.Reset()
	for {
		ectx, cancel := clockwork.WithTimeout(s.ctx, c.opts.Clock, c.opts.StoreTimeout)
		err := c.opts.Sink.Enqueue(ectx, d)
		cancel()
		if err == nil {
			c.outcome(ev.Name, OutcomeAccepted)
			return true
		}
		if s.ctx.Err() != nil {
			c.outcome(ev.Name, OutcomeUnavailable)
			return false
		}
		wait := bo.NextBackOff()
		if c.storeLog.Allow() {
			c.log.Warn("websocket event not stored yet; retrying (Zoom never sends it again)", slog.String("event", webhook.EventLabel(ev.Name)),
				slog.String("error", err.Error()), slog.Duration("retry_in", wait))
		}
		select {
		case <-s.ctx.Done():
			c.outcome(ev.Name, OutcomeUnavailable)
			return false
		case <-c.opts.Clock.After(wait):
		}
	}
}

func (c *Client) frame(module string) {
	if c.opts.Observer != nil {
		c.opts.Observer.Frame(c.opts.Subscription, module)
	}
}

func (c *Client) outcome(event, outcome string) {
	if c.opts.Observer != nil {
		label := ""
		if event != "" {
			label = webhook.EventLabel(event)
		}
		c.opts.Observer.Event(c.opts.Subscription, label, outcome)
	}
}

// malformed logs a refused frame at a bounded rate: what arrives on the
// socket must not flood the log.
func (c *Client) malformed(what string, err error) {
	if !c.badLog.Allow() {
		return
	}
	attrs := []slog.Attr{}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(context.Background(), slog.LevelWarn, "websocket subscription: "+what+" ignored", attrs...)
}

// bounded is at most 120 bytes of what Zoom said, for an error text.
func bounded(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// newLogLimiter lets a burst of lines through, then one per 10 s.
func newLogLimiter() *rate.Limiter { return rate.NewLimiter(rate.Every(10*time.Second), 5) }
