package app

import (
	"context"
	"github.com/cenkalti/backoff/v5"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// readiness tracks what /readyz reports.
type readiness struct {
	rdb      redis.UniversalClient
	accounts map[string]*account
	mapping  bool // a directory is configured: wait for the first complete mapping too
	// sockets, if set, reports the WebSocket subscriptions (shown, never
	// a reason to be unready).
	sockets func(*http.Request) []webSocketStatus
	// model, if set, reports whether this replica's read model has
	// loaded (before, every lookup reads Redis: slower, not wrong).
	model func() bool
	// modelMapping, if set, is the version of the directory mapping the
	// read model holds ("" for none): with a directory configured, a
	// replica is not ready before its lookups show directory links.
	modelMapping func() string
	mu           sync.Mutex
	pulled       map[string]bool
	mapped       bool
	// mappedAt is the version of the first complete mapping this replica
	// saw; the read model must hold it or a later one. Once it has
	// (modelHeld), a later publication does not make the replica unready
	// while the model reloads.
	mappedAt  time.Time
	modelHeld bool
}

func newReadiness(rdb redis.UniversalClient, accounts map[string]*account, mapping bool) *readiness {
	return &readiness{rdb: rdb, accounts: accounts, mapping: mapping, pulled: map[string]bool{}}
}

// firstPull makes sure the account has a complete pull: one recorded in
// Redis by any replica counts; otherwise it pulls, retrying with backoff.
func (r *readiness) firstPull(ctx context.Context, rdb redis.UniversalClient, store *zsync.Store, a *account,
	clock clockwork.Clock, log *slog.Logger, m *metrics) {
	retry := &backoff.ExponentialBackOff{InitialInterval: time.Second, Multiplier: 2, MaxInterval: 5 * time.Minute}
	for ctx.Err() == nil {
		if last, err := zsync.LastCompletePull(ctx, rdb, a.cfg.ID); err == nil && !last.IsZero() {
			r.mu.Lock()
			r.pulled[a.cfg.ID] = true
			r.mu.Unlock()
			return
		}
		sum, err := zsync.NewPuller(rdb, store, a.client, clock, log).Pull(ctx)
		if err == nil {
			m.Pull(a.cfg.ID, "complete", sum.Duration)
			continue // recorded: the next round marks it ready
		}
		m.Pull(a.cfg.ID, "failed", sum.Duration)
		wait := retry.NextBackOff()
		log.Error("first full pull failed; retrying", slog.String("account_id", a.cfg.ID),
			slog.String("error", err.Error()), slog.Duration("backoff", wait))
		select {
		case <-ctx.Done():
		case <-clock.After(wait):
		}
	}
}

func (r *readiness) serve(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		helpdesk.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "redis does not answer"})
		return
	}
	r.mu.Lock()
	var waiting []string
	for id := range r.accounts {
		if !r.pulled[id] {
			waiting = append(waiting, id)
		}
	}
	r.mu.Unlock()
	if len(waiting) > 0 {
		slices.Sort(waiting)
		helpdesk.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready",
			"reason": "first full pull not complete", "accounts": waiting})
		return
	}
	if r.mapping && !r.isMapped() {
		// Any replica's complete mapping counts (the mapping runs on one).
		v, err := mapstore.CompleteVersion(ctx, r.rdb)
		if err != nil {
			helpdesk.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "redis does not answer"})
			return
		}
		if v == "" {
			helpdesk.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "first directory mapping not complete"})
			return
		}
		r.mu.Lock()
		r.mapped, r.mappedAt = true, mapstore.VersionTime(v)
		r.mu.Unlock()
	}
	if r.model != nil && !r.model() {
		helpdesk.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "read model not loaded"})
		return
	}
	if r.mapping && r.modelMapping != nil && !r.modelHoldsMapping() {
		helpdesk.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready", "reason": "read model has not loaded the directory mapping"})
		return
	}
	if r.sockets != nil {
		helpdesk.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "websockets": r.sockets(req)})
		return
	}
	helpdesk.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// modelHoldsMapping reports whether the read model holds the first
// complete mapping or a later one.
func (r *readiness) modelHoldsMapping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.modelHeld {
		v := r.modelMapping()
		r.modelHeld = v != "" && !mapstore.VersionTime(v).Before(r.mappedAt)
	}
	return r.modelHeld
}

func (r *readiness) isMapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mapped
}
