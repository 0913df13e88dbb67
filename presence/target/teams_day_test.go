package target

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/graphapi"
	"github.com/zoomsync/zoomsync/graphapi/graphfake"
	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
)

// TestTeamsDay plays a working day of a tenant against the fake Graph on
// the injected clock: meetings at the top of every hour (a 9:00 burst of
// joins), calls through the day (some longer than a pushed state's
// expiration), lunch breaks, and Graph down for an hour. The teams driver
// is driven as the sender drives it (its decide, keep-alive, backoff and
// dead_after, batches of 20, changes coalesced per user), one batch at a
// time: Graph's budget, not the number of senders, bounds the rate.
//
// It checks that the fake never saw more presence calls in any 30 s than
// Graph's limit, that a pushed state is kept up while it lasts, that
// every user ends the day as their status says (the outage lost nothing)
// with no dead letter, and that the burst is delivered within the stated
// bound; it reports the delays. The default run is small; with
// ZOOMSYNC_TEAMS_DAY=full (task teams-day) it is 100,000 users and 20,000
// joins at 9:00.
func TestTeamsDay(t *testing.T) {
	sc := daySmall
	if os.Getenv("ZOOMSYNC_TEAMS_DAY") == "full" {
		sc = dayFull
	} else if testing.Short() {
		t.Skip("the day simulation (short mode)")
	}
	sim := newDaySim(t, sc)
	rep := sim.run(t)
	rep.log(t, sc)

	if rep.maxLoad > sc.limit || rep.throttled > 0 {
		t.Errorf("the fake saw %d presence calls in one 30 s window (limit %d) and answered %d 429s", rep.maxLoad, sc.limit, rep.throttled)
	}
	if rep.dead > 0 {
		t.Errorf("%d changes dead-lettered", rep.dead)
	}
	if rep.wrongAtEnd > 0 {
		t.Errorf("%d users end the day with Teams showing something else than their status", rep.wrongAtEnd)
	}
	if rep.dropped > 0 {
		t.Errorf("%d times a user in a pushed state for over %s had no live session in Teams", rep.dropped, dayCheckAfter)
	}
	// The stated bound: a burst of n is delivered within n / (the budget
	// per second) plus a minute.
	bound := time.Duration(float64(sc.burst)/float64(graphapi.PerSlot(sc.limit, graphapi.PresenceWindow))*float64(time.Second)) + time.Minute
	if p := pct(rep.burst, 99); p > bound {
		t.Errorf("burst p99 %s over the stated bound %s", p, bound)
	}
	// Every other set and clear, and every change Graph's outage held
	// once it is back, within the same bound (the burst is the longest
	// queue of the day).
	if m := max(pct(rep.sets, 100), pct(rep.clears, 100), rep.recovered); m > bound {
		t.Errorf("a push took %s, over the stated bound %s", m, bound)
	}
}

// dayScale is the size of a simulated day.
type dayScale struct {
	users, burst int
	hourly       float64 // share of users joining a meeting at each later hour
	calls        int     // calls per user per day (mean)
	// limit is the presence calls per 30 s (Graph's and the target's
	// presence_limit): the small day scales it down with the users, so
	// its burst queues as the full one does.
	limit int
	// round: changes are taken up at whole rounds of the sender (it wakes
	// at once on a change; rounds keep the simulation's requests few).
	round time.Duration
}

var (
	daySmall = dayScale{users: 500, burst: 200, hourly: 0.05, calls: 3, limit: 32, round: 2 * time.Second}
	dayFull  = dayScale{users: 100_000, burst: 20_000, hourly: 0.05, calls: 3, limit: graphapi.PresenceLimit, round: time.Second}
)

var (
	dayStart    = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	outageFrom  = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)
	outageUntil = outageFrom.Add(time.Hour)
	// dayCheckAfter: a user in a pushed state this long (outside the
	// outage and its recovery) must have a live session in Teams.
	dayCheckAfter = 15 * time.Minute
)

// dayEvent is a status change (user -1: the outage starts or ends).
type dayEvent struct {
	at     time.Time
	user   int
	status presence.Status
}

// dayUser is what the simulated sender knows of one user.
type dayUser struct {
	status   presence.Status
	previous presence.Status
	since    time.Time
	seq      int64
	sent     int64 // last settled seq
	keep     bool  // the queued push is a keep-alive
	failing  time.Time
	attempts int
	gen      int // bumps with every (re)queue; stale heap entries are skipped
	queued   bool
}

type dueEntry struct {
	at   time.Time
	user int
	gen  int
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type daySim struct {
	sc     dayScale
	clock  *clockwork.FakeClock
	graph  *graphfake.Server
	tenant *graphfake.Tenant
	driver *teams
	conf   *configured
	users  []dayUser
	people []testserver.ADPerson
	due    dueHeap
	events []dayEvent
	ctx    context.Context
}

const dayApp = "22553876-f5ab-4529-bffb-cfe50aa89f87"

func dayObjectID(i int) string { return fmt.Sprintf("0b1ec700-0000-4000-8000-%012d", i) }

func newDaySim(t *testing.T, sc dayScale) *daySim {
	s := &daySim{sc: sc, clock: clockwork.NewFakeClockAt(dayStart), ctx: t.Context()}
	g, err := graphfake.Start(graphfake.Options{Clock: s.clock, PresenceLimit: sc.limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	s.graph = g
	s.tenant = g.AddTenant("contoso.onmicrosoft.com")
	s.tenant.AddApp(graphfake.AppSpec{ClientID: dayApp, Secret: "day-secret", Roles: []string{graphfake.PresenceReadWriteAll, graphfake.UserReadAll}})
	s.people = make([]testserver.ADPerson, sc.users)
	for i := range sc.users {
		p := testserver.ADPersonAt(i)
		s.people[i] = p
		s.tenant.AddUser(graphfake.UserSpec{ID: dayObjectID(i), UserPrincipalName: p.Mail, Mail: p.Mail, ImmutableID: p.ImmutableID()})
	}
	secretFile := t.TempDir() + "/secret"
	if err := os.WriteFile(secretFile, []byte("day-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(json.RawMessage(fmt.Sprintf(`{"name":"teams","type":"teams","tenant_id":"contoso.onmicrosoft.com","client_id":%q,"client_secret_file":%q,"graph_url":%q,"login_url":%q,"presence_limit":%d}`,
		dayApp, secretFile, g.GraphURL(), g.LoginURL(), sc.limit)))
	if err != nil {
		t.Fatal(err)
	}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	d, err := Build(c, Deps{Redis: rdb, Clock: s.clock, HTTP: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	s.driver = d.(*teams)
	s.conf = newConfigured(c, TraitsOf(TypeTeams), d)
	// zoomsync ran yesterday: every user's Entra id is cached (the first
	// day resolves each user once, at 100 user reads a second).
	s.users = make([]dayUser, sc.users)
	var keys []string
	var fields []map[string]string
	for i := range sc.users {
		s.users[i].status = presence.Available
		p := s.push(i)
		keys, fields = append(keys, s.driver.stateKey(&p)), append(fields, map[string]string{fGraphID: dayObjectID(i), fInputs: inputsOf(&p)})
		if len(keys) == 1000 || i == sc.users-1 {
			if err := s.driver.write(s.ctx, keys, fields); err != nil {
				t.Fatal(err)
			}
			keys, fields = nil, nil
		}
	}
	s.events = dayEvents(sc)
	return s
}

// dayEvents is the day's status changes, in time order: each user's
// meetings, calls and lunch, without overlaps.
func dayEvents(sc dayScale) []dayEvent {
	rng := rand.New(rand.NewPCG(2026, 3))
	type span struct {
		from, to time.Time
		status   presence.Status
	}
	at := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	jitter := func(from time.Time, d time.Duration) time.Time {
		return from.Add(time.Duration(rng.Int64N(int64(d))))
	}
	var out []dayEvent
	for u := range sc.users {
		var spans []span
		if u < sc.burst { // the 9:00 meeting: joins from 8:59 to 9:01
			start := jitter(at(8, 59), 2*time.Minute)
			spans = append(spans, span{start, start.Add(time.Duration(30+30*rng.IntN(2)) * time.Minute), presence.InMeeting})
		}
		for h := 10; h <= 17; h++ {
			if rng.Float64() < sc.hourly {
				start := jitter(at(h, 0).Add(-time.Minute), 2*time.Minute)
				spans = append(spans, span{start, start.Add(time.Duration(25+rng.IntN(35)) * time.Minute), presence.InMeeting})
			}
		}
		for range rng.IntN(2*sc.calls + 1) {
			start := jitter(at(8, 0), 10*time.Hour)
			d := time.Duration(30+rng.ExpFloat64()*360) * time.Second
			spans = append(spans, span{start, start.Add(d), presence.OnCall})
		}
		if u%100 == 7 { // a long call, past a pushed state's hour
			start := jitter(at(10, 0), time.Hour)
			spans = append(spans, span{start, start.Add(150 * time.Minute), presence.OnCall})
		}
		if rng.Float64() < 0.3 {
			start := jitter(at(12, 0), time.Hour)
			spans = append(spans, span{start, start.Add(30 * time.Minute), presence.Away})
		}
		if u%50 == 3 { // presenting in a meeting
			start := jitter(at(11, 0), 5*time.Hour)
			spans = append(spans, span{start, start.Add(20 * time.Minute), presence.Presenting})
		}
		slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
		var last time.Time
		for _, s := range spans {
			if s.from.Before(last) {
				continue // overlaps the one before: dropped
			}
			out = append(out, dayEvent{s.from, u, s.status}, dayEvent{s.to, u, presence.Available})
			last = s.to
		}
	}
	out = append(out, dayEvent{outageFrom, -1, "down"}, dayEvent{outageUntil, -1, "up"})
	slices.SortStableFunc(out, func(a, b dayEvent) int { return a.at.Compare(b.at) })
	return out
}

func (s *daySim) push(u int) Push {
	p, us := s.people[u], &s.users[u]
	return Push{Target: "teams", AccountID: "A", ZoomUserID: fmt.Sprintf("zoom%d", u), Email: p.Mail,
		Directory: &Directory{ID: p.GUID, DN: p.DN, UID: p.UID}, Status: us.status, Previous: us.previous, Since: us.since, Seq: us.seq}
}

func (s *daySim) queue(u int, at time.Time, keep bool) {
	us := &s.users[u]
	us.gen++
	us.queued, us.keep = true, keep
	heap.Push(&s.due, dueEntry{at, u, us.gen})
}

// pushBatch calls the driver as the sender does, advancing the clock
// while the driver waits on it (the budget, a Retry-After, an outage's
// hold): one batch at a time, the clock stands still otherwise.
func (s *daySim) pushBatch(ps []Push) []error {
	res := make(chan []error, 1)
	go func() { res <- s.driver.PushBatch(s.ctx, ps) }()
	for {
		bctx, cancel := context.WithCancel(s.ctx)
		blocked := make(chan struct{})
		go func() {
			if s.clock.BlockUntilContext(bctx, 1) == nil {
				close(blocked)
			}
		}()
		select {
		case r := <-res:
			cancel()
			return r
		case <-blocked:
			cancel()
			s.clock.Advance(100 * time.Millisecond)
		}
	}
}

// dayReport is what the day measured.
type dayReport struct {
	burst, sets, clears, outage []time.Duration // delays from the change to Teams' answer
	presenceCalls, requests     int
	maxLoad, throttled          int
	dead, skipped, keepAlives   int
	superseded, supersededDown  int // mapped changes replaced by a newer one before their push (outside, during the outage)
	dropped, wrongAtEnd         int
	tokens                      int
	lastDelivery                time.Time
	recovered                   time.Duration // from Graph's return to the last outage change delivered
}

func (s *daySim) run(t *testing.T) dayReport {
	var rep dayReport
	nextCheck := dayStart.Add(time.Hour)
	ei := 0
	for {
		now := s.clock.Now()
		for ei < len(s.events) && !s.events[ei].at.After(now) {
			e := s.events[ei]
			ei++
			switch {
			case e.user < 0:
				s.graph.SetFaults(graphfake.Faults{GraphDown: e.status == "down"})
				continue
			}
			us := &s.users[e.user]
			if us.queued && !us.keep && us.seq > us.sent {
				if _, mapped := s.conf.StatusMap[string(us.status)]; mapped {
					if !e.at.Before(outageFrom) && e.at.Before(outageUntil) {
						rep.supersededDown++
					} else {
						rep.superseded++
					}
				}
			}
			us.previous, us.status, us.since = us.status, e.status, e.at
			us.seq++
			if us.attempts == 0 {
				s.queue(e.user, e.at, false)
			} else {
				us.keep = false // its retry carries the new change
			}
		}
		if !now.Before(nextCheck) {
			rep.dropped += s.check(now)
			nextCheck = nextCheck.Add(10 * time.Minute)
			if s.sc.users >= 10_000 && now.Minute() < 10 {
				st := s.graph.Stats()
				t.Logf("%s: %d presence calls so far, %d waiting", now.Format("15:04"), st.PresenceCalls, len(s.due))
			}
		}
		var batch []int
		for len(s.due) > 0 && len(batch) < MaxBatchOf(s.driver) && !s.due[0].at.After(now) {
			e := heap.Pop(&s.due).(dueEntry)
			if us := &s.users[e.user]; e.gen == us.gen && us.queued {
				batch = append(batch, e.user)
			}
		}
		if len(batch) == 0 {
			next := time.Time{}
			if ei < len(s.events) {
				next = s.events[ei].at
			}
			if len(s.due) > 0 && (next.IsZero() || s.due[0].at.Before(next)) {
				next = s.due[0].at
			}
			if next.IsZero() {
				break
			}
			if next.After(nextCheck) {
				next = nextCheck
			}
			if r := next.Truncate(s.sc.round); r.Before(next) {
				next = r.Add(s.sc.round)
			}
			s.clock.Advance(next.Sub(now))
			continue
		}
		var pushes []Push
		var of []int
		for _, u := range batch {
			us := &s.users[u]
			us.queued = false
			if us.seq <= us.sent && s.conf.keepAlive == 0 {
				continue
			}
			p := s.push(u)
			if !s.conf.decide(&p) {
				us.sent = us.seq
				continue
			}
			pushes, of = append(pushes, p), append(of, u)
		}
		if len(pushes) == 0 {
			continue
		}
		keep := make([]bool, len(of))
		for k, u := range of {
			keep[k] = s.users[u].keep
		}
		results := s.pushBatch(pushes)
		now = s.clock.Now()
		for k, err := range results {
			u, p, us := of[k], pushes[k], &s.users[of[k]]
			switch {
			case err == nil:
				delay := now.Sub(p.Since)
				switch {
				case keep[k]:
					rep.keepAlives++
				case !p.Since.Before(outageFrom.Add(-time.Minute)) && p.Since.Before(outageUntil):
					rep.outage = append(rep.outage, delay)
					rep.recovered = max(rep.recovered, now.Sub(outageUntil))
				case p.Clear:
					rep.clears = append(rep.clears, delay)
				case p.Status == presence.InMeeting && !p.Since.Before(time.Date(2026, 3, 2, 8, 59, 0, 0, time.UTC)) && p.Since.Before(time.Date(2026, 3, 2, 9, 1, 0, 0, time.UTC)):
					rep.burst = append(rep.burst, delay)
				default:
					rep.sets = append(rep.sets, delay)
				}
				rep.lastDelivery = now
				us.sent, us.attempts, us.failing = p.Seq, 0, time.Time{}
				if us.seq > p.Seq {
					s.queue(u, now, false) // a newer change came meanwhile
				} else if !p.Clear {
					s.queue(u, now.Add(s.conf.keepAlive), true)
				}
			case errors.Is(err, ErrSkip):
				rep.skipped++
				us.sent, us.attempts, us.failing = p.Seq, 0, time.Time{}
				if us.seq > p.Seq {
					s.queue(u, now, false)
				}
			default:
				first := us.failing
				if first.IsZero() {
					first = now
				}
				if s.conf.deadNow(err) || now.Sub(first) >= s.conf.DeadAfter.Duration {
					rep.dead++
					t.Logf("dead letter %s: %v", p.ZoomUserID, err)
					us.sent, us.attempts, us.failing = p.Seq, 0, time.Time{}
					continue
				}
				us.failing = first
				us.attempts++
				s.queue(u, retryAt(now, us.attempts-1, err), keep[k] && us.seq == p.Seq)
			}
		}
	}
	rep.dropped += s.check(s.clock.Now())
	for u := range s.users {
		want := s.conf.StatusMap[string(s.users[u].status)]
		got := ""
		if a, ok := s.tenant.AppSession(dayObjectID(u), dayApp); ok {
			got = a.Availability + "/" + a.Activity
		}
		if got != want {
			rep.wrongAtEnd++
			if rep.wrongAtEnd <= 5 {
				t.Logf("user %d: status %s, Teams shows %q", u, s.users[u].status, got)
			}
		}
	}
	st := s.graph.Stats()
	rep.presenceCalls, rep.requests, rep.maxLoad, rep.throttled, rep.tokens = st.PresenceCalls, st.GraphRequests, st.MaxPresenceLoad, st.Throttled, st.TokenGrants
	return rep
}

// MaxBatchOf is a driver's batch size (the sender's rule).
func MaxBatchOf(d Driver) int {
	if bd, ok := d.(BatchDriver); ok {
		return max(1, bd.MaxBatch())
	}
	return 1
}

// check counts users in a pushed state for over dayCheckAfter whose app
// session is missing, expired or another pair (outside the outage and
// the half hour after it).
func (s *daySim) check(now time.Time) int {
	if !now.Before(outageFrom) && now.Before(outageUntil.Add(30*time.Minute)) {
		return 0
	}
	bad := 0
	for u := range s.users {
		us := &s.users[u]
		want, mapped := s.conf.StatusMap[string(us.status)]
		if !mapped || now.Sub(us.since) < dayCheckAfter {
			continue
		}
		a, ok := s.tenant.AppSession(dayObjectID(u), dayApp)
		if !ok || !a.Expires.After(now) || a.Availability+"/"+a.Activity != want {
			bad++
		}
	}
	return bad
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}

func (r dayReport) log(t *testing.T, sc dayScale) {
	per := graphapi.PerSlot(sc.limit, graphapi.PresenceWindow)
	t.Logf("teams day: %d users, %d meeting joins at 9:00, Graph down %s–%s, sender rounds of %s", sc.users, sc.burst, outageFrom.Format("15:04"), outageUntil.Format("15:04"), sc.round)
	t.Logf("Graph: %d presence calls in %d requests ($batch), %d token grants; busiest 30 s window %d presence calls (limit %d, %.0f%%; pacing %d/s); %d 429s",
		r.presenceCalls, r.requests, r.tokens, r.maxLoad, sc.limit, 100*float64(r.maxLoad)/float64(sc.limit), per, r.throttled)
	t.Logf("9:00 burst: %d joins delivered, p50 %s, p99 %s, max %s (bound: %d joins / %d per s + 1 min)",
		len(r.burst), pct(r.burst, 50), pct(r.burst, 99), pct(r.burst, 100), sc.burst, per)
	t.Logf("other sets: %d, p50 %s, p99 %s, max %s; clears: %d, p50 %s, p99 %s, max %s",
		len(r.sets), pct(r.sets, 50), pct(r.sets, 99), pct(r.sets, 100), len(r.clears), pct(r.clears, 50), pct(r.clears, 99), pct(r.clears, 100))
	t.Logf("outage: %d changes made while Graph was down delivered, all within %s of its return (%d pushed states replaced by a newer change meanwhile)",
		len(r.outage), r.recovered.Round(time.Second), r.supersededDown)
	t.Logf("%d keep-alives, %d skipped (nothing to clear), %d pushed states ended before their turn outside the outage (a call shorter than the queue), %d dead letters",
		r.keepAlives, r.skipped, r.superseded, r.dead)
	t.Logf("end of day: %d users wrong in Teams; %d pushed states found missing at the 10-minute checks", r.wrongAtEnd, r.dropped)
}
