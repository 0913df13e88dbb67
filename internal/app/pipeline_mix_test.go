package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	mathrand "math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

// The realistic webhook mix of BenchmarkPipeline: signed Zoom webhooks for
// random users where every event is a real change of what zoomsync holds
// for the user. 85 % user.presence_status_updated (a status other than
// the user's current one), 8 % phone call events (a call opened with
// phone.callee_answered or phone.caller_connected, and later ended with
// the matching *_ended, per call_id), 4 % contact_center.
// user_status_changed (another agent status), 3 % user lifecycle and
// profile events (user.updated changing the department; user.deactivated
// and user.activated of the same users).
//
// The generator keeps each user's state as zoomsync should hold it, so it
// knows which events change the effective status (and so must reach the
// target). Users are split into shards, one per connection: a user's
// events all leave through one connection, one at a time, so they arrive
// in the order they were made and never overtake each other.

// Shares of the mix, cumulative.
const (
	mixPresence  = 0.85
	mixPhone     = mixPresence + 0.08
	mixAgent     = mixPhone + 0.04
	mixLifecycle = 1.0 // the rest: lifecycle and profile
)

// mixKind is what an event does.
type mixKind uint8

const (
	kindPresence mixKind = iota
	kindCallOpen
	kindCallEnd
	kindAgent
	kindProfile
	kindDeactivate
	kindActivate
)

var mixKindNames = [...]string{"presence", "call-open", "call-end", "agent", "profile", "deactivate", "activate"}

func (k mixKind) String() string { return mixKindNames[k] }

// mixEventNames are every event name the mix sends (Rivet's handler is
// registered for each).
var mixEventNames = []string{"user.presence_status_updated", "phone.callee_answered", "phone.caller_connected",
	"phone.callee_ended", "phone.caller_ended", "contact_center.user_status_changed", "user.updated",
	"user.deactivated", "user.activated"}

// mixPresences are the presence spellings the mix sets (webhook form).
// On_Phone_Call is left out: a call is reported by the phone events.
var mixPresences = []string{"Available", "Away", "Do_Not_Disturb", "In_Meeting", "Presenting",
	"In_Calendar_Event", "Busy", "Offline", "Mobile_signed_in"}

// mixAgentStatuses are contact-center statuses (id, name) the mix sets.
var mixAgentStatuses = [][2]string{{"1", "Ready"}, {"2", "Not Ready"}, {"3", "Occupied"}, {"5", "Lunch Coverage"}}

// mixUser is one user as the generator believes zoomsync holds it.
type mixUser struct {
	idx                    int32 // position in the population
	id, email, first, last string
	typ                    int
	phone                  *zoomfake.Phone
	agent                  bool
	active                 bool
	presence               string // Zoom's spelling; "" never heard
	agentStatus            string // contact-center status id
	dept                   string
	call                   string          // the open call's id; "" none
	caller                 bool            // the open call was placed by the user
	lastTS                 int64           // event_ts (ms) of the user's last event
	initial                presence.Status // the effective status before the load
}

func (u *mixUser) effective() presence.Status {
	status := "active"
	if !u.active {
		status = "inactive"
	}
	var p presence.Status
	if u.presence != "" {
		p = presence.ParseZoomStatus(u.presence)
	}
	return presence.Effective(presence.Sources{Presence: p, OnCall: u.call != "", UserStatus: status})
}

// mixEvent is what the generator made: the body and how to find what it
// caused at the target.
type mixEvent struct {
	user int32 // mixUser.idx
	ts   int64 // event_ts, Unix ms: the pushed change's "since"
	kind mixKind
	push bool // the effective status changes: the target must hear of it
}

// pipelineMix is the generator: the population split into shards.
type pipelineMix struct {
	users  []*mixUser
	shards []*mixShard
	// observe, when set, is told of each event before it is sent, with
	// the user's state after it (the soak keeps the fake Zoom's REST
	// answers in step with its webhooks, as Zoom's are); stampNow then
	// gives events the time they are made as event_ts rather than when
	// they were due, so no REST read can see the old state later than
	// the event says it changed.
	observe  func(*mixUser, mixKind)
	stampNow bool
}

// mixShard is the part of the population one connection sends.
type mixShard struct {
	id       int
	users    []*mixUser
	phones   []*mixUser
	agents   []*mixUser
	onCall   []*mixUser // users with an open call, oldest first
	inactive []*mixUser // users this generator deactivated, oldest first
	rng      *mathrand.Rand
	mac      hash.Hash
	calls    int
	buf      []byte
	sig      []byte
}

// maxOpenCalls and maxDeactivated bound each shard's open calls and
// deactivated users: calls end and users come back, as in a working day.
const (
	maxOpenCalls   = 24
	maxDeactivated = 4
)

// newPipelineMix splits users (index-aligned states) into shards; secret
// signs the webhooks, seed makes the mix repeatable.
func newPipelineMix(users []*mixUser, shards int, secret string, seed uint64) *pipelineMix {
	m := &pipelineMix{users: users}
	for i := range shards {
		m.shards = append(m.shards, &mixShard{id: i, rng: mathrand.New(mathrand.NewPCG(seed, uint64(i))),
			mac: hmac.New(sha256.New, []byte(secret))})
	}
	for i, u := range users {
		u.idx = int32(i)
		u.initial = u.effective()
		s := m.shards[i%shards]
		s.users = append(s.users, u)
		if u.phone != nil {
			s.phones = append(s.phones, u)
		}
		if u.agent {
			s.agents = append(s.agents, u)
		}
		if u.call != "" {
			s.onCall = append(s.onCall, u)
		}
	}
	return m
}

// mixUsersOf is the population of a fake account's active users, in the
// state zoomsync holds them in: states gives, per user id, the stored
// zoom_status, agent_status_id and dept (missing: never heard).
func mixUsersOf(users []zoomfake.User, states map[string][3]string) []*mixUser {
	var out []*mixUser
	for _, u := range users {
		if u.Status != "active" {
			continue
		}
		st := states[u.ID]
		out = append(out, &mixUser{id: u.ID, email: u.Email, first: u.FirstName, last: u.LastName, typ: u.Type,
			phone: u.Phone, agent: u.Agent != nil, active: true, presence: st[0], agentStatus: st[1], dept: st[2]})
	}
	return out
}

// pick draws a user of from for which ok holds (nil after a few misses).
func (s *mixShard) pick(from []*mixUser, ok func(*mixUser) bool) *mixUser {
	if len(from) == 0 {
		return nil
	}
	for range 16 {
		if u := from[s.rng.IntN(len(from))]; ok(u) {
			return u
		}
	}
	return nil
}

func isActive(u *mixUser) bool { return u.active }

// next makes the shard's next event at nowMS (event_ts; later than the
// user's previous one) and returns its body and what it does. The body
// is in s.buf, valid until the next call.
func (s *mixShard) next(account string, nowMS int64) ([]byte, mixEvent) {
	for {
		r := s.rng.Float64()
		var body []byte
		var ev mixEvent
		switch {
		case r < mixPresence:
			body, ev = s.presenceEvent(account, nowMS)
		case r < mixPhone:
			body, ev = s.callEvent(account, nowMS)
		case r < mixAgent:
			body, ev = s.agentEvent(account, nowMS)
		default:
			body, ev = s.lifecycleEvent(account, nowMS)
		}
		if body != nil {
			return body, ev
		}
	}
}

// begin starts an event of u: its event_ts, and the effective status
// before.
func (s *mixShard) begin(u *mixUser, nowMS int64) (int64, presence.Status) {
	ts := max(nowMS, u.lastTS+1)
	u.lastTS = ts
	return ts, u.effective()
}

func (s *mixShard) presenceEvent(account string, nowMS int64) ([]byte, mixEvent) {
	u := s.pick(s.users, isActive)
	if u == nil {
		return nil, mixEvent{}
	}
	cur := presence.ParseZoomStatus(u.presence)
	var next string
	for {
		next = mixPresences[s.rng.IntN(len(mixPresences))]
		if u.presence == "" || presence.ParseZoomStatus(next) != cur {
			break
		}
	}
	ts, before := s.begin(u, nowMS)
	u.presence = next
	b := s.envelope("user.presence_status_updated", account, ts)
	b = append(b, `,"object":{"id":"`...)
	b = append(b, u.id...)
	b = append(b, `","email":"`...)
	b = append(b, u.email...)
	b = append(b, `","date_time":"`...)
	b = time.UnixMilli(ts).UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","presence_status":"`...)
	b = append(b, next...)
	b = append(b, `"}}}`...)
	return s.done(b), mixEvent{user: u.idx, ts: ts, kind: kindPresence, push: u.effective() != before}
}

// callEvent ends the shard's oldest open call (half the time, or when
// too many are open), or opens one for a phone user who has none.
func (s *mixShard) callEvent(account string, nowMS int64) ([]byte, mixEvent) {
	if len(s.onCall) > 0 && (s.rng.IntN(2) == 0 || len(s.onCall) >= maxOpenCalls) {
		u := s.onCall[0]
		s.onCall = s.onCall[1:]
		ts, before := s.begin(u, nowMS)
		name := "phone.callee_ended"
		if u.caller {
			name = "phone.caller_ended"
		}
		b := s.callBody(account, name, u, ts)
		u.call = ""
		return b, mixEvent{user: u.idx, ts: ts, kind: kindCallEnd, push: u.effective() != before}
	}
	u := s.pick(s.phones, func(u *mixUser) bool { return u.active && u.call == "" })
	if u == nil {
		return nil, mixEvent{}
	}
	ts, before := s.begin(u, nowMS)
	s.calls++
	// Zoom's call ids are 19-digit numbers.
	u.call = strconv.FormatUint(7_100_000_000_000_000_000+uint64(s.id)*1_000_000_000_000+uint64(s.calls), 10)
	u.caller = s.rng.IntN(2) == 0
	s.onCall = append(s.onCall, u)
	name := "phone.callee_answered"
	if u.caller {
		name = "phone.caller_connected"
	}
	return s.callBody(account, name, u, ts), mixEvent{user: u.idx, ts: ts, kind: kindCallOpen, push: u.effective() != before}
}

// callBody is a phone.caller_* or phone.callee_* event of u's open call,
// the other party an external number (the shape zoomfake.CallEvent makes).
func (s *mixShard) callBody(account, name string, u *mixUser, ts int64) []byte {
	at := time.UnixMilli(ts).UTC()
	b := s.envelope(name, account, ts)
	b = append(b, `,"object":{"call_id":"`...)
	b = append(b, u.call...)
	own := func(b []byte) []byte {
		b = append(b, `{"extension_id":"`...)
		b = append(b, u.phone.ExtensionID...)
		b = append(b, `","extension_type":"user","extension_number":`...)
		b = strconv.AppendInt(b, u.phone.ExtensionNumber, 10)
		b = append(b, `,"phone_number":"`...)
		b = append(b, u.phone.Number...)
		b = append(b, `","user_id":"`...)
		b = append(b, u.id...)
		b = append(b, `","name":"`...)
		b = append(b, u.first...)
		b = append(b, ' ')
		b = append(b, u.last...)
		return append(b, `","timezone":"America/New_York","device_type":"MAC_Client(6.4.0)","connection_type":"voip"}`...)
	}
	const external = `{"phone_number":"+12092592844","connection_type":"pstn_off_net"}`
	if u.caller {
		b = append(b, `","caller":`...)
		b = own(b)
		b = append(b, `,"callee":`+external...)
	} else {
		b = append(b, `","caller":`+external+`,"callee":`...)
		b = own(b)
	}
	b = append(b, `,"ringing_start_time":"`...)
	b = at.Add(-10*time.Second).AppendFormat(b, time.RFC3339)
	switch name {
	case "phone.caller_connected":
		b = append(b, `","connected_start_time":"`...)
	case "phone.callee_answered":
		b = append(b, `","answer_start_time":"`...)
	default:
		b = append(b, `","call_end_time":"`...)
	}
	b = at.AppendFormat(b, time.RFC3339)
	b = append(b, `"}}}`...)
	return s.done(b)
}

func (s *mixShard) agentEvent(account string, nowMS int64) ([]byte, mixEvent) {
	u := s.pick(s.agents, isActive)
	if u == nil {
		return nil, mixEvent{}
	}
	var next [2]string
	for next = mixAgentStatuses[s.rng.IntN(len(mixAgentStatuses))]; next[0] == u.agentStatus; {
		next = mixAgentStatuses[s.rng.IntN(len(mixAgentStatuses))]
	}
	prevName := ""
	for _, st := range mixAgentStatuses {
		if st[0] == u.agentStatus {
			prevName = st[1]
		}
	}
	ts, before := s.begin(u, nowMS)
	b := s.envelope("contact_center.user_status_changed", account, ts)
	b = append(b, `,"object":{"user_id":"`...)
	b = append(b, u.id...)
	b = append(b, `","display_name":"`...)
	b = append(b, u.first...)
	b = append(b, ' ')
	b = append(b, u.last...)
	b = append(b, `","user_email":"`...)
	b = append(b, u.email...)
	b = append(b, `","previous_status_id":"`...)
	b = append(b, u.agentStatus...)
	b = append(b, `","previous_status_name":"`...)
	b = append(b, prevName...)
	b = append(b, `","current_status_id":"`...)
	b = append(b, next[0]...)
	b = append(b, `","current_status_name":"`...)
	b = append(b, next[1]...)
	b = append(b, `","date_time_ms":"`...)
	b = time.UnixMilli(ts).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `"}}}`...)
	u.agentStatus = next[0]
	return s.done(b), mixEvent{user: u.idx, ts: ts, kind: kindAgent, push: u.effective() != before}
}

// lifecycleEvent: two thirds user.updated with a new department; the
// rest deactivates a user (not on a call) or brings back one this shard
// deactivated.
func (s *mixShard) lifecycleEvent(account string, nowMS int64) ([]byte, mixEvent) {
	const operator = `,"operator":"admin@example.com","operator_id":"admin0000000000000000"`
	if s.rng.IntN(3) > 0 {
		u := s.pick(s.users, isActive)
		if u == nil {
			return nil, mixEvent{}
		}
		ts, before := s.begin(u, nowMS)
		dept := fmt.Sprintf("D%03d", (deptNumber(u.dept)+1+s.rng.IntN(48))%50)
		b := s.envelope("user.updated", account, ts)
		b = append(b, operator+`,"time_stamp":`...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, `,"object":{"id":"`...)
		b = append(b, u.id...)
		b = append(b, `","dept":"`...)
		b = append(b, dept...)
		b = append(b, `"},"old_object":{"id":"`...)
		b = append(b, u.id...)
		b = append(b, `","dept":"`...)
		b = append(b, u.dept...)
		b = append(b, `"}}}`...)
		u.dept = dept
		return s.done(b), mixEvent{user: u.idx, ts: ts, kind: kindProfile, push: u.effective() != before}
	}
	var u *mixUser
	kind := kindDeactivate
	if len(s.inactive) > 0 && (s.rng.IntN(2) == 0 || len(s.inactive) >= maxDeactivated) {
		u, s.inactive, kind = s.inactive[0], s.inactive[1:], kindActivate
	} else if u = s.pick(s.users, func(u *mixUser) bool { return u.active && u.call == "" }); u == nil {
		return nil, mixEvent{}
	}
	ts, before := s.begin(u, nowMS)
	name := "user.activated"
	u.active = kind == kindActivate
	if !u.active {
		name = "user.deactivated"
		s.inactive = append(s.inactive, u)
	}
	b := s.envelope(name, account, ts)
	b = append(b, operator+`,"object":{"id":"`...)
	b = append(b, u.id...)
	b = append(b, `","first_name":"`...)
	b = append(b, u.first...)
	b = append(b, `","last_name":"`...)
	b = append(b, u.last...)
	b = append(b, `","email":"`...)
	b = append(b, u.email...)
	b = append(b, `","type":`...)
	b = strconv.AppendInt(b, int64(u.typ), 10)
	b = append(b, `}}}`...)
	return s.done(b), mixEvent{user: u.idx, ts: ts, kind: kind, push: u.effective() != before}
}

func deptNumber(dept string) int {
	n, _ := strconv.Atoi(dept[min(1, len(dept)):])
	return n
}

// envelope starts an event body: compact JSON as Zoom sends it (and as
// Node verifiers, which re-stringify the parsed body, can check), up to
// the payload's account_id.
func (s *mixShard) envelope(name, account string, ts int64) []byte {
	b := append(s.buf[:0], `{"event":"`...)
	b = append(b, name...)
	b = append(b, `","event_ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"payload":{"account_id":"`...)
	b = append(b, account...)
	return append(b, '"')
}

func (s *mixShard) done(b []byte) []byte {
	s.buf = b
	return b
}

// sign is Zoom's x-zm-signature of body at Unix-seconds ts
// (zoomfake.Sign), in s.sig.
func (s *mixShard) sign(ts int64, body []byte) []byte {
	s.mac.Reset()
	var pre [32]byte
	p := append(strconv.AppendInt(append(pre[:0], "v0:"...), ts, 10), ':')
	s.mac.Write(p)
	s.mac.Write(body)
	var sum [sha256.Size]byte
	s.sig = append(s.sig[:0], "v0="...)
	s.sig = hex.AppendEncode(s.sig, s.mac.Sum(sum[:0]))
	return s.sig
}

// TestPipelineMixEventsAreRealChanges: every event the benchmark's mix
// makes is a webhook zoomsync accepts (Zoom's documented schema, a valid
// signature, compact JSON that a Node verifier re-stringifies to the same
// bytes), applies as a real change, and changes the effective status
// exactly when the generator says the target must hear of it (with the
// event's event_ts as the change's since).
func TestPipelineMixEventsAreRealChanges(t *testing.T) {
	const events = 3000
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	_, acct := startFake(t, 400)
	ctx := context.Background()
	store := zsync.NewStore(r.Client(), zsync.DefaultPartitions, time.Hour).WithPresence([]string{"bench"}, time.Hour)
	pulled := zsync.PullVersion(time.Now().Add(-time.Minute))
	var ws []zsync.Write
	for _, u := range acct.Users() {
		ws = append(ws, zsync.Write{Account: acctID, UserKey: u.ID, Fields: []zsync.FieldWrite{
			{Name: zsync.FieldUserStatus, Version: pulled, Value: u.Status}, {Name: zsync.FieldEmail, Version: pulled, Value: u.Email},
			{Name: zsync.FieldDept, Version: pulled, Value: u.Dept}}})
	}
	if _, err := store.ApplyBatch(ctx, ws); err != nil {
		t.Fatal(err)
	}
	states := map[string][3]string{}
	for _, u := range acct.Users() {
		states[u.ID] = [3]string{"", "", u.Dept}
	}
	users := mixUsersOf(acct.Users(), states)
	mix := newPipelineMix(users, 4, whSecret, 1)
	checker, err := contract.New()
	if err != nil {
		t.Fatal(err)
	}
	verifier := webhook.Verifier{Secret: secret.New(whSecret)}
	kinds := map[mixKind]int{}
	pushes := 0
	now := time.Now().UnixMilli()
	for i := range events {
		s := mix.shards[i%len(mix.shards)]
		body, ev := s.next(acctID, now+int64(i/10))
		body = bytes.Clone(body)
		kinds[ev.kind]++
		u := users[ev.user]
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err != nil || !bytes.Equal(compact.Bytes(), body) || bytes.ContainsRune(body, '\\') {
			t.Fatalf("event %d is not compact, escape-free JSON (%v): %s", i, err, body)
		}
		sec := time.Now().Unix()
		h := http.Header{}
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(sec, 10))
		h.Set(webhook.HeaderSignature, string(s.sign(sec, body)))
		if err := verifier.Verify(h, body); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := zoomfake.Sign(whSecret, sec, body); h.Get(webhook.HeaderSignature) != want {
			t.Fatalf("event %d signed %s, zoomfake.Sign gives %s", i, h.Get(webhook.HeaderSignature), want)
		}
		dec, err := webhook.Decode(body)
		if err != nil || dec.ObjectErr != nil || dec.UserID() != u.id || dec.TS != ev.ts {
			t.Fatalf("event %d (%s): %v %v, user %q ts %d: %s", i, ev.kind, err, dec.ObjectErr, dec.UserID(), dec.TS, body)
		}
		checker.Event(dec.Name, body)
		w, ok := zsync.EventWrite(acctID, dec)
		if !ok {
			t.Fatalf("event %d (%s) writes nothing: %s", i, ev.kind, body)
		}
		if n, err := store.Apply(ctx, w); err != nil || n == 0 {
			t.Fatalf("event %d (%s) applied %d facts (%v): not a change: %s", i, ev.kind, n, err, body)
		}
		rec, err := store.User(ctx, acctID, u.id)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rec.Fields[zsync.FieldStatus], string(u.effective()); got != want {
			t.Fatalf("event %d (%s): zoomsync's status %q, the generator believes %q: %s", i, ev.kind, got, want, body)
		}
		if changed := rec.Fields[zsync.FieldStatusSince] == strconv.FormatInt(ev.ts, 10); changed != ev.push {
			t.Fatalf("event %d (%s): status changed %v, the generator says push %v (since %s, ts %d)", i, ev.kind, changed, ev.push,
				rec.Fields[zsync.FieldStatusSince], ev.ts)
		}
		if ev.push {
			pushes++
		}
	}
	if d := checker.Deviations(); len(d) > 0 {
		t.Fatalf("bodies deviate from Zoom's documented schemas: %v", d)
	}
	for k := kindPresence; k <= kindActivate; k++ {
		if kinds[k] == 0 {
			t.Errorf("no %s event in %d", k, events)
		}
	}
	if share := float64(kinds[kindPresence]) / events; share < 0.82 || share > 0.88 {
		t.Errorf("presence share %.3f, want 0.85", share)
	}
	t.Logf("%d events: %v; %d change the effective status", events, kinds, pushes)
}
