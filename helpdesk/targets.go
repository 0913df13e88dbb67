package helpdesk

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/presence/target"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// targetsAPI serves GET /v1/targets.
type targetsAPI struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	configs  []target.Config
	accounts []string
	clock    clockwork.Clock
}

// targetCountsKey counts push results by target and result, across
// replicas.
func targetCountsKey() string { return "zs:{targets}:counts" }

func (t *targetsAPI) serve(w http.ResponseWriter, req *http.Request) {
	counts, err := t.rdb.HGetAll(req.Context(), targetCountsKey()).Result()
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
		return
	}
	type view struct {
		Name             string   `json:"name"`
		Type             string   `json:"type"`
		URL              string   `json:"url,omitempty"` // webhook targets, redacted
		Pending          int64    `json:"pending"`
		OldestPendingAge *float64 `json:"oldest_pending_age_seconds"`
		Delivered        int64    `json:"delivered"`
		Failed           int64    `json:"failed"`
		Skipped          int64    `json:"skipped"`
		Dead             int64    `json:"dead"`
	}
	out := []view{}
	for _, c := range t.configs {
		v := view{Name: c.Name, Type: c.Type}
		v.URL = c.Endpoint() // redacted; "" for types without one
		var oldest time.Time
		for _, a := range t.accounts {
			st, err := t.store.Outbox().Stats(req.Context(), a, c.Name)
			if err != nil {
				apiError(w, http.StatusServiceUnavailable, "unavailable", "Redis is unavailable")
				return
			}
			v.Pending += st.Pending
			v.Dead += st.Dead
			if !st.Oldest.IsZero() && (oldest.IsZero() || st.Oldest.Before(oldest)) {
				oldest = st.Oldest
			}
		}
		if !oldest.IsZero() {
			age := t.clock.Since(oldest).Seconds()
			v.OldestPendingAge = &age
		}
		get := func(r string) int64 { n, _ := strconv.ParseInt(counts[c.Name+":"+r], 10, 64); return n }
		v.Delivered, v.Failed, v.Skipped = get(target.ResultDelivered), get(target.ResultFailed), get(target.ResultSkipped)
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"targets": out})
}
