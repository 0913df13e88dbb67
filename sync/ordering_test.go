package zsync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// TestOrderingConvergesWithARunningPull: presence and user events for 200
// users, delivered shuffled, twice each, plus stale copies replayed as
// Zoom's 5/20/60-minute retries would, while full pulls run; afterwards
// every user's email equals Zoom's and its presence equals its newest
// event.
func TestOrderingConvergesWithARunningPull(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		// One real clock for Zoom, its events and the pull: a page's rows and
		// an event are ordered by when they really happened.
		b := setupResyncWith(t, rdb, zoomfake.New(zoomfake.Options{Limits: zoomfake.Unlimited()}), 220)
		p := newPipeline(t, rdb, "c1")
		p.store = b.store
		p.consumer = NewConsumer(rdb, b.store, p.inbox, ConsumerOptions{Name: "c1", ClaimIdle: time.Millisecond, Block: time.Millisecond})

		var users []zoomfake.User
		for _, u := range b.acct.Users() {
			if u.Status == "active" && len(users) < 200 {
				users = append(users, u)
			}
		}
		rng := rand.New(rand.NewPCG(7, 7))
		statuses := []string{"Available", "Away", "In_Meeting", "Do_Not_Disturb", "Presenting"}
		newestPresence := map[string]string{}

		pullCtx, stopPulls := context.WithCancel(ctx)
		var wg sync.WaitGroup
		pulls := 0
		wg.Add(1)
		go func() { // full pulls keep racing the changes and their webhooks
			defer wg.Done()
			for pullCtx.Err() == nil {
				if _, err := b.puller.Pull(pullCtx); err != nil && pullCtx.Err() == nil {
					t.Error(err)
				}
				pulls++
			}
		}()
		// Stop the pulls however the test ends: a t.Fatal below must not
		// leave the goroutine reporting into a finished test.
		defer func() { stopPulls(); wg.Wait() }()

		var history []zoomfake.Event
		for step := 0; step < 6; step++ {
			var events []zoomfake.Event
			for i, u := range users {
				switch rng.IntN(3) {
				case 0:
					st := statuses[rng.IntN(len(statuses))]
					ev, err := b.acct.PresenceEvent(u.ID, st)
					if err != nil {
						t.Fatal(err)
					}
					events = append(events, ev)
					newestPresence[u.ID] = st
				case 1:
					cur, _ := b.acct.User(u.ID)
					next := fmt.Sprintf("user%03d.v%d@example.com", i, step)
					if _, err := b.acct.UpdateUser(u.ID, func(z *zoomfake.User) { z.Email = next }); err != nil {
						t.Fatal(err)
					}
					events = append(events, b.acct.UserUpdatedEvent(u.ID, map[string]any{"email": next}, map[string]any{"email": cur.Email}))
				}
			}
			// This step's events twice (at least once), shuffled, with stale
			// retries of earlier steps' events mixed in.
			deliveries := append(append([]zoomfake.Event{}, events...), events...)
			for i := 0; i < len(history)/5; i++ {
				deliveries = append(deliveries, history[rng.IntN(len(history))])
			}
			history = append(history, events...)
			rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
			for i, ev := range deliveries {
				dec, err := webhook.Decode(ev.Body)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.inbox.Enqueue(ctx, webhook.Delivery{AccountID: "A", Event: dec, ReceivedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
				if i%100 == 0 {
					p.drain(t, "A")
				}
			}
		}
		stopPulls()
		wg.Wait()
		p.drain(t, "A")
		if pulls < 2 {
			t.Fatalf("only %d pulls ran alongside the webhooks", pulls)
		}

		for _, u := range users {
			zoom, _ := b.acct.User(u.ID)
			rec, err := b.store.User(ctx, "A", u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Fields[FieldEmail] != zoom.Email {
				t.Errorf("%s: email %q, Zoom says %q", u.ID, rec.Fields[FieldEmail], zoom.Email)
			}
			if want, ok := newestPresence[u.ID]; ok && rec.Fields[FieldZoomStatus] != want {
				t.Errorf("%s: presence %q, newest event says %q", u.ID, rec.Fields[FieldZoomStatus], want)
			}
			keys, _ := b.store.LookupEmail(ctx, "A", strings.ToUpper(zoom.Email))
			if len(keys) != 1 || keys[0] != u.ID {
				t.Errorf("%s: email index %v", zoom.Email, keys)
			}
		}
	})
}
