package target_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/zoomsync/zoomsync/presence/target"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

const receiverSecret = "receiver-secret-0123456789"

// receiver is a local webhook target: it checks every push's signature
// and records the bodies; it answers down's status while down is set.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	down atomic.Int32 // status to answer instead of 200 (0: up)

	mu     sync.Mutex
	got    []target.WebhookBody
	bad    []string
	notify chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, notify: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if target.Verify(receiverSecret, req.Header, body, time.Now(), time.Minute) != nil {
			r.bad = append(r.bad, string(body))
			w.WriteHeader(401)
			return
		}
		if s := r.down.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		var b target.WebhookBody
		if err := json.Unmarshal(body, &b); err != nil {
			r.bad = append(r.bad, string(body))
		}
		r.got = append(r.got, b)
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) bodies() []target.WebhookBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor waits (on the receiver's own notifications) until cond holds.
func (r *receiver) waitFor(t *testing.T, what string, cond func([]target.WebhookBody) bool) []target.WebhookBody {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if b := r.bodies(); cond(b) {
			return b
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("%s: not within 20s; got %d pushes", what, len(r.bodies()))
		}
	}
}

type rig struct {
	rdb    redis.UniversalClient
	store  *zsync.Store
	sender *target.Sender
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t *testing.T, configs ...target.Config) *rig {
	return newRigWith(t, target.Options{}, configs...)
}

func newRigWith(t *testing.T, opts target.Options, configs ...target.Config) *rig {
	t.Helper()
	r := newRigStoppedWith(t, opts, configs...)
	r.start(t)
	return r
}

// newRigStopped builds a rig whose sender is not running yet (start).
func newRigStopped(t *testing.T, configs ...target.Config) *rig {
	return newRigStoppedWith(t, target.Options{}, configs...)
}

func newRigStoppedWith(t *testing.T, opts target.Options, configs ...target.Config) *rig {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	var names []string
	for _, c := range configs {
		names = append(names, c.Name)
	}
	store := zsync.NewStore(rdb, 4, time.Hour).WithPresence(names, time.Hour)
	opts.Owner, opts.LeaseTTL = "test", 3*time.Second
	s, err := target.New(rdb, store, configs, []string{"A", "B"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{rdb: rdb, store: store, sender: s, done: make(chan struct{})}
}

// start runs the rig's sender until the test ends.
func (r *rig) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); r.sender.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
}

// deadLetters waits for a target's first dead letters and returns their
// reasons.
func (r *rig) deadLetters(t *testing.T, name string) []string {
	t.Helper()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(20 * time.Second)
	for {
		var reasons []string
		for _, k := range r.rdb.Keys(context.Background(), "*:outdead:"+name).Val() {
			for _, m := range r.rdb.XRange(context.Background(), k, "-", "+").Val() {
				reasons = append(reasons, fmt.Sprint(m.Values["reason"]))
			}
		}
		if len(reasons) > 0 {
			return reasons
		}
		select {
		case <-tk.C:
		case <-deadline:
			t.Fatalf("no dead letter at %s within 20s", name)
		}
	}
}

// waitSettled polls Redis (another process's state) until the target has
// settled the user's change seq.
func (r *rig) waitSettled(t *testing.T, account, target, user string, seq int64) {
	t.Helper()
	ob := r.store.Outbox()
	tk := time.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	deadline := time.After(10 * time.Second)
	for {
		for p := range ob.Partitions() {
			if pend, _ := ob.Load(context.Background(), account, p, target, []string{user}); len(pend) == 1 && pend[0].Sent >= seq {
				return
			}
		}
		select {
		case <-tk.C:
		case <-deadline:
			t.Fatalf("%s/%s seq %d not settled at %s within 10s", account, user, seq, target)
		}
	}
}

var tick atomic.Int64

// set applies a presence change (and optional other fields) for a user.
func (r *rig) set(t *testing.T, account, user, status string, extra ...zsync.FieldWrite) {
	t.Helper()
	v := zsync.WebhookVersion(time.Now().UnixMilli() + tick.Add(1)) // strictly increasing, near now
	fields := append([]zsync.FieldWrite{{Name: zsync.FieldEmail, Version: v, Value: user + "@example.com"},
		{Name: zsync.FieldUserStatus, Version: v, Value: "active"}, {Name: zsync.FieldPresence, Version: v, Value: status}}, extra...)
	for i := range extra {
		fields[3+i].Version = v
	}
	if _, err := r.store.Apply(context.Background(), zsync.Write{Account: account, UserKey: user, Fields: fields}); err != nil {
		t.Fatal(err)
	}
}

func webhookConfig(name, url string) target.Config {
	c, err := target.ParseConfig(json.RawMessage(fmt.Sprintf(`{"name":%q,"type":"webhook","url":%q,"secret":%q,
		"status_map":{"available":"Available","in_meeting":"Busy","on_call":"OnCall","dnd":"DND"}}`, name, url, receiverSecret)))
	if err != nil {
		panic(err)
	}
	return c
}

// TestWebhookTargetBodySignatureAndMap: a push carries SPEC §5's body,
// signed; the status map is applied; an unmapped status is not pushed.
func TestWebhookTargetBodySignatureAndMap(t *testing.T) {
	rcv := newReceiver(t)
	r := newRig(t, webhookConfig("pbx", rcv.srv.URL))
	r.set(t, "A", "u1", "in_meeting")
	rcv.waitFor(t, "in_meeting", func(b []target.WebhookBody) bool { return len(b) == 1 })
	r.set(t, "A", "u1", "away") // not in the map: settled without a push, the target keeps Busy
	r.waitSettled(t, "A", "pbx", "u1", 2)
	r.set(t, "A", "u1", "available")
	got := rcv.waitFor(t, "available", func(b []target.WebhookBody) bool { return len(b) >= 2 })
	for _, b := range got {
		if b.Status == "away" {
			t.Fatalf("an unmapped status was pushed: %+v", b)
		}
	}
	last := got[len(got)-1]
	if last.Event != "presence.changed" || last.Target != "pbx" || last.AccountID != "A" || last.ZoomUserID != "u1" ||
		last.Email != "u1@example.com" || last.Status != "available" || last.PreviousStatus != "away" ||
		last.TargetStatus != "Available" || last.Seq != 3 || last.Since.IsZero() || last.Directory != nil {
		t.Fatalf("body %+v", last)
	}
	if rcv.bad != nil {
		t.Fatalf("bad signatures or bodies: %v", rcv.bad)
	}
}

// TestFilters: accounts, groups and matched-only filters decide who a
// target receives.
func TestFilters(t *testing.T) {
	rcv := newReceiver(t)
	c := webhookConfig("f", rcv.srv.URL)
	c.Filter = target.Filter{Accounts: []string{"A"}, Groups: []string{"sales"}, MatchedOnly: true}
	r := newRig(t, c)
	v := zsync.WebhookVersion(1)
	group := func(g string) zsync.FieldWrite {
		return zsync.FieldWrite{Name: zsync.FieldGroupIDs, Version: v, Value: `["` + g + `"]`}
	}
	link := zsync.FieldWrite{Name: zsync.FieldDirID, Version: v, Value: "entry-1"}
	r.set(t, "B", "other-account", "in_meeting", group("sales"), link)
	r.set(t, "A", "other-group", "in_meeting", group("support"), link)
	r.set(t, "A", "unlinked", "in_meeting", group("sales"))
	r.set(t, "A", "wanted", "in_meeting", group("sales"), link)
	rcv.waitFor(t, "the one user the filters let through", func(b []target.WebhookBody) bool { return len(b) >= 1 })
	for _, u := range []struct{ account, user string }{{"B", "other-account"}, {"A", "other-group"}, {"A", "unlinked"}} {
		r.waitSettled(t, u.account, "f", u.user, 1) // settled without a push
	}
	for _, b := range rcv.bodies() {
		if b.ZoomUserID != "wanted" {
			t.Fatalf("filtered user pushed: %+v", b)
		}
	}
}

// TestOrderCoalescingAndRecovery: while the target answers 503, a user's
// changes collapse to the latest; when it recovers the latest arrives, in
// seq order, and nothing older after it.
func TestOrderCoalescingAndRecovery(t *testing.T) {
	rcv := newReceiver(t)
	rcv.down.Store(503)
	r := newRig(t, webhookConfig("pbx", rcv.srv.URL))
	statuses := []string{"in_meeting", "available", "dnd", "in_meeting", "on_call"}
	for u := 0; u < 20; u++ {
		for _, s := range statuses {
			r.set(t, "A", fmt.Sprintf("u%02d", u), s)
		}
	}
	rcv.down.Store(0)
	got := rcv.waitFor(t, "every user's latest status", func(b []target.WebhookBody) bool {
		latest := map[string]string{}
		for _, x := range b {
			latest[x.ZoomUserID] = x.Status
		}
		n := 0
		for _, s := range latest {
			if s == "on_call" {
				n++
			}
		}
		return n == 20
	})
	seqs := map[string]int64{}
	for _, b := range got {
		if b.Seq <= seqs[b.ZoomUserID] {
			t.Fatalf("out of order for %s: seq %d after %d", b.ZoomUserID, b.Seq, seqs[b.ZoomUserID])
		}
		seqs[b.ZoomUserID] = b.Seq
	}
	if len(got) > 40 {
		t.Fatalf("%d pushes for 20 users' 5 changes each during an outage: not coalesced", len(got))
	}
}

// TestContactCenterTargetWithRateLimits: agent statuses follow presence
// through the fake Zoom's Contact Center API while it answers 429s (the
// Light limit is 5/s here), and a status the agent set after the presence
// change is not overridden.
func TestContactCenterTargetWithRateLimits(t *testing.T) {
	limits := zoomfake.BusinessLimits()
	limits.PerSecond[zoomfake.FamilyCC][zoomfake.Light] = 5
	fake, client, acct := startFakeCC(t, limits, 150)
	c, err := target.ParseConfig(json.RawMessage(`{"name":"cc","type":"zoom_contact_center","status_map":{"in_meeting":"2","available":"1"},"damping_ms":300}`))
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, target.Options{Zoom: map[string]*zoomapi.Client{"A": client}}, c)
	var agents []string
	for _, u := range acct.Users() {
		if u.Agent != nil && u.Status == "active" {
			agents = append(agents, u.ID)
		}
	}
	if len(agents) < 3 {
		t.Fatalf("only %d agents", len(agents))
	}
	for _, a := range agents {
		r.set(t, "A", a, "in_meeting")
	}
	for _, a := range agents {
		r.waitSettled(t, "A", "cc", a, 1)
		if u, _ := acct.User(a); u.Agent.StatusID != "2" {
			t.Fatalf("agent %s has status %s, want 2 (in_meeting)", a, u.Agent.StatusID)
		}
	}
	if fake.Stats().TooManyQPS == 0 {
		t.Fatal("the fake never answered 429: the test proves nothing about rate limits")
	}
	// The agent picks "Occupied" (3) by hand right after a presence change
	// to available: zoomsync must not put "Ready" (1) over it.
	a := agents[0]
	r.set(t, "A", a, "available")
	if err := acct.SetAgentStatus(a, "3", "Occupied"); err != nil {
		t.Fatal(err)
	}
	v := zsync.WebhookVersion(time.Now().UnixMilli() + tick.Add(1))
	if _, err := r.store.Apply(context.Background(), zsync.Write{Account: "A", UserKey: a, Fields: []zsync.FieldWrite{
		{Name: zsync.FieldAgentStatusID, Version: v, Value: "3"}}}); err != nil {
		t.Fatal(err)
	}
	r.waitSettled(t, "A", "cc", a, 2)
	if u, _ := acct.User(a); u.Agent.StatusID != "3" {
		t.Fatalf("zoomsync overrode the agent's own status: now %s", u.Agent.StatusID)
	}
}

// TestKeepAliveRepushesTheCurrentStatus: with keepalive set, a delivered
// status goes out again after the interval, unchanged.
func TestKeepAliveRepushesTheCurrentStatus(t *testing.T) {
	rcv := newReceiver(t)
	c := webhookConfig("pbx", rcv.srv.URL)
	c.KeepAlive.Duration = time.Second
	r := newRig(t, c)
	r.set(t, "A", "u1", "in_meeting")
	got := rcv.waitFor(t, "a push and its keep-alive", func(b []target.WebhookBody) bool { return len(b) >= 2 })
	if got[0].Seq != 1 || got[1].Seq != 1 || got[1].Status != "in_meeting" {
		t.Fatalf("pushes %+v", got)
	}
}

// TestPartitionsSpreadOverReplicas: two senders share the outbox
// partitions evenly; when one stops, the other takes them all.
func TestPartitionsSpreadOverReplicas(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	store := zsync.NewStore(rdb, 8, time.Hour).WithPresence([]string{"pbx"}, time.Hour)
	cfg := webhookConfig("pbx", "http://127.0.0.1:1/")
	start := func(owner string) context.CancelFunc {
		s, err := target.New(rdb, store, []target.Config{cfg}, []string{"A"}, target.Options{Owner: owner, LeaseTTL: 600 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return func() { cancel(); <-done }
	}
	held := func() map[string]int {
		out := map[string]int{}
		for _, k := range rdb.Keys(context.Background(), "zs:{a:A:p:*}:outlease").Val() {
			holder := rdb.Get(context.Background(), k).Val() // "owner:token"; "" when released meanwhile
			if i := strings.LastIndexByte(holder, ':'); i >= 0 {
				out[holder[:i]]++
			}
		}
		return out
	}
	waitFor := func(what string, cond func(map[string]int) bool) {
		t.Helper()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		deadline := time.After(15 * time.Second)
		for h := held(); !cond(h); h = held() {
			select {
			case <-tk.C:
			case <-deadline:
				t.Fatalf("%s: leases held %v", what, h)
			}
		}
	}
	stop1 := start("r1")
	waitFor("one replica takes every partition", func(h map[string]int) bool { return h["r1"] == 8 })
	stop2 := start("r2")
	waitFor("two replicas share them evenly", func(h map[string]int) bool { return h["r1"] == 4 && h["r2"] == 4 })
	stop1()
	waitFor("the survivor takes them all", func(h map[string]int) bool { return h["r2"] == 8 })
	stop2()
}
