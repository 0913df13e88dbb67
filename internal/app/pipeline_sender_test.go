package app

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The load generator of BenchmarkPipeline: one goroutine per keep-alive
// connection, each sending its shard's events one at a time (HTTP/1.1, no
// pipelining) over a plain TCP connection whose requests it writes itself
// and whose answers net/http parses (http.ReadResponse). It costs the
// machine a few µs per request: the two cores are shared with what it
// loads, so a heavier client would understate every receiver alike.
//
// Closed loop (rate 0): every connection sends its next event as soon as
// the previous one is answered, until the time is up. Open loop (rate >
// 0): event i is due at start + i/rate; the next free connection sends it
// when due, and its latency counts from when it was due, so a stall that
// delays later events counts against them (no coordinated omission).

// webhookEndpoint is where a receiver takes webhooks.
type webhookEndpoint struct {
	addr, path string // 127.0.0.1:port, /webhooks/zoom/{account}
}

// sentEvent is an acknowledged event and when it was due (open loop) or
// sent (closed loop), Unix ns.
type sentEvent struct {
	mixEvent
	at int64
}

// loadRun is what one load phase measured.
type loadRun struct {
	acked, refused int
	elapsed        time.Duration // first send to last answer
	lat            []time.Duration
	sent           []sentEvent
	ended          time.Time
}

func (r loadRun) perSecond() float64 { return float64(r.acked) / r.elapsed.Seconds() }

// quantile of the acknowledgement latencies (sorted by the run).
func (r loadRun) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))]
}

// sendLoad sends mix's events to ep over one connection per shard for d,
// closed loop when rate is 0, else at rate events/s.
func sendLoad(tb testing.TB, ep webhookEndpoint, mix *pipelineMix, account string, d time.Duration, rate float64) loadRun {
	tb.Helper()
	conns := len(mix.shards)
	var (
		next    atomic.Int64
		mu      sync.Mutex
		run     loadRun
		wg      sync.WaitGroup
		failure atomic.Pointer[error]
	)
	n := int64(rate * d.Seconds())
	dialed := make([]net.Conn, conns)
	for i := range dialed {
		c, err := net.Dial("tcp", ep.addr)
		if err != nil {
			tb.Fatalf("dial %s: %v", ep.addr, err)
		}
		dialed[i] = c
	}
	start := time.Now()
	deadline := start.Add(d)
	for i, shard := range mix.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &webhookConn{conn: dialed[i], ep: ep}
			defer func() { c.conn.Close() }()
			var lat []time.Duration
			var sent []sentEvent
			refused := 0
			for failure.Load() == nil {
				due := time.Now()
				if rate > 0 {
					k := next.Add(1) - 1
					if k >= n {
						break
					}
					due = start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					}
				} else if due.After(deadline) {
					break
				}
				ts := due.UnixMilli()
				if mix.stampNow {
					ts = time.Now().UnixMilli()
				}
				body, ev := shard.next(account, ts)
				if mix.observe != nil {
					mix.observe(mix.users[ev.user], ev.kind)
				}
				code, err := c.post(shard, body)
				if err != nil {
					failure.CompareAndSwap(nil, &err)
					break
				}
				if code != http.StatusOK {
					refused++
					continue
				}
				lat = append(lat, time.Since(due))
				sent = append(sent, sentEvent{mixEvent: ev, at: due.UnixNano()})
			}
			mu.Lock()
			run.lat, run.sent, run.refused = append(run.lat, lat...), append(run.sent, sent...), run.refused+refused
			mu.Unlock()
		}()
	}
	wg.Wait()
	run.ended = time.Now()
	run.elapsed = run.ended.Sub(start)
	if err := failure.Load(); err != nil {
		tb.Fatalf("load on %s%s: %v", ep.addr, ep.path, *err)
	}
	run.acked = len(run.lat)
	slices.Sort(run.lat)
	return run
}

// webhookConn is one keep-alive connection to a receiver.
type webhookConn struct {
	conn net.Conn
	ep   webhookEndpoint
	r    *bufio.Reader
	head []byte
	id   [16]byte
}

// post sends one signed webhook, as Zoom does (its headers), and returns
// the answer's status. A connection the receiver closed is dialled again.
func (c *webhookConn) post(shard *mixShard, body []byte) (int, error) {
	if c.r == nil {
		c.r = bufio.NewReaderSize(c.conn, 4096)
	}
	now := time.Now().Unix()
	binary.LittleEndian.PutUint64(c.id[:8], shard.rng.Uint64())
	binary.LittleEndian.PutUint64(c.id[8:], shard.rng.Uint64())
	h := append(c.head[:0], "POST "...)
	h = append(h, c.ep.path...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, c.ep.addr...)
	h = append(h, "\r\nUser-Agent: Zoom Marketplace/1.0a\r\nContent-Type: application/json; charset=utf-8\r\nx-zm-request-timestamp: "...)
	h = strconv.AppendInt(h, now, 10)
	h = append(h, "\r\nx-zm-signature: "...)
	h = append(h, shard.sign(now, body)...)
	h = append(h, "\r\nx-zm-request-id: "...)
	h = hex.AppendEncode(h, c.id[:])
	h = append(h, "\r\nx-zm-trackingid: v=2.0;clid=us06;rid="...)
	h = hex.AppendEncode(h, c.id[:12])
	h = append(h, "\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(body)), 10)
	h = append(h, "\r\n\r\n"...)
	h = append(h, body...)
	c.head = h
	if _, err := c.conn.Write(h); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, fmt.Errorf("reading the answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		c.conn.Close()
		if c.conn, err = net.Dial("tcp", c.ep.addr); err != nil {
			return 0, err
		}
		c.r.Reset(c.conn)
	}
	return resp.StatusCode, nil
}

// TestPipelineSenderLoads: the benchmark's sender delivers every event,
// signed so that a verifying receiver accepts it, closed loop and at a
// fixed rate, and carries on when the receiver closes connections.
func TestPipelineSenderLoads(t *testing.T) {
	_, acct := startFake(t, 300)
	states := map[string][3]string{}
	mix := newPipelineMix(mixUsersOf(acct.Users(), states), 8, whSecret, 3)
	var served atomic.Int64
	verify := bareHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1)%10 == 0 {
			w.Header().Set("Connection", "close") // a receiver that recycles its connections
		}
		verify.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ep := webhookEndpoint{strings.TrimPrefix(srv.URL, "http://"), "/"}

	closed := sendLoad(t, ep, mix, acctID, 300*time.Millisecond, 0)
	if closed.acked == 0 || closed.refused > 0 || closed.acked != len(closed.sent) {
		t.Fatalf("closed loop: %d acknowledged, %d refused, %d recorded", closed.acked, closed.refused, len(closed.sent))
	}
	paced := sendLoad(t, ep, mix, acctID, time.Second, 400)
	if paced.acked != 400 || paced.refused > 0 {
		t.Fatalf("400/s for 1 s: %d acknowledged, %d refused", paced.acked, paced.refused)
	}
	if paced.elapsed < 990*time.Millisecond || !slices.IsSorted(paced.lat) {
		t.Fatalf("paced run took %v; latencies sorted %v", paced.elapsed, slices.IsSorted(paced.lat))
	}
	due := map[int64]bool{}
	for _, s := range paced.sent {
		due[s.at] = true
	}
	if len(due) != 400 {
		t.Fatalf("%d distinct due times for 400 events", len(due))
	}
}
