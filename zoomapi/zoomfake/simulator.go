package zoomfake

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"sync"
	"time"
)

// SimOptions configure a Simulator.
type SimOptions struct {
	URL  string  // where webhooks are delivered
	Rate float64 // events per second (default 5)
	Seed uint64
	// OnDeliver, if set, sees every delivery (status 0 on transport error).
	OnDeliver func(ev Event, status int, err error)
	// Send, if set, delivers each event instead of a webhook POST to URL
	// (a WebSocket subscription's SendStatus, say).
	Send func(ctx context.Context, ev Event) (int, error)
}

// Simulator makes an account's users live: presence changes, phone calls
// that start and end, agents changing status, each delivered as the
// webhook Zoom would send.
type Simulator struct {
	a    *Account
	opts SimOptions
	rng  *mathrand.Rand

	mu       sync.Mutex
	calls    map[string]string // user id → open call id
	sent, ok int
	callSeq  int
}

// Simulator returns a simulator for the account.
func (a *Account) Simulator(opts SimOptions) *Simulator {
	if opts.Rate <= 0 {
		opts.Rate = 5
	}
	return &Simulator{a: a, opts: opts, rng: mathrand.New(mathrand.NewPCG(opts.Seed, 0xc0ffee)), calls: map[string]string{}}
}

var simPresences = []string{"Available", "Available", "Available", "Away", "In_Meeting", "In_Meeting", "Presenting",
	"Do_Not_Disturb", "In_Calendar_Event", "Busy", "Offline", "Mobile_signed_in"}

// Run emits events at the configured rate until ctx ends.
func (s *Simulator) Run(ctx context.Context) error {
	tick := s.a.srv.clock.NewTicker(time.Duration(float64(time.Second) / s.opts.Rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.Chan():
		}
		ev, err := s.Next()
		if err != nil {
			continue
		}
		var status int
		var derr error
		if s.opts.Send != nil {
			status, derr = s.opts.Send(ctx, ev)
		} else {
			status, derr = s.a.Deliver(ctx, s.opts.URL, ev)
		}
		if ctx.Err() != nil {
			return nil // stopped mid-delivery: not the receiver's refusal
		}
		s.mu.Lock()
		s.sent++
		if derr == nil && status/100 == 2 {
			s.ok++
		}
		s.mu.Unlock()
		if s.opts.OnDeliver != nil {
			s.opts.OnDeliver(ev, status, derr)
		}
	}
}

// Next picks a random active user and makes one change, returning the
// event that reports it.
func (s *Simulator) Next() (Event, error) {
	users := s.a.Users()
	var active []User
	for _, u := range users {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	if len(active) == 0 {
		return Event{}, fmt.Errorf("zoomfake: no active users")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := active[s.rng.IntN(len(active))]
	if callID, onCall := s.calls[u.ID]; onCall {
		delete(s.calls, u.ID)
		return s.a.CallEvent("phone.callee_ended", u.ID, callID)
	}
	switch r := s.rng.Float64(); {
	case r < 0.2 && u.Phone != nil:
		s.callSeq++
		callID := fmt.Sprintf("%d", 7_000_000_000_000_000_000+uint64(s.callSeq))
		s.calls[u.ID] = callID
		return s.a.CallEvent("phone.callee_answered", u.ID, callID)
	case r < 0.3 && u.Agent != nil:
		id := []string{"1", "2", "3"}[s.rng.IntN(3)]
		name, _ := agentStatusName(id)
		return s.a.AgentStatusEvent(u.ID, id, name)
	default:
		return s.a.PresenceEvent(u.ID, simPresences[s.rng.IntN(len(simPresences))])
	}
}

// Stats reports events sent and accepted (2xx).
func (s *Simulator) Stats() (sent, accepted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.ok
}
