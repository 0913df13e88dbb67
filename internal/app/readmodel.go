package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// readModelMetrics are the read model's series: its loads (reasons:
// start, gap, mapping, drift), the users a drift check found differing,
// which lookups it answered and which fell back to Redis, and how many
// users it holds.
type readModelMetrics struct {
	loads     *prometheus.CounterVec
	loadTook  prometheus.Observer
	drifted   prometheus.Counter
	lookups   *prometheus.CounterVec
	modelHit  prometheus.Counter // lookups.WithLabelValues("model"), resolved once: it is counted per request
	modelMiss prometheus.Counter
	// users, once set (serve's model), is how many users it holds.
	users atomic.Pointer[func() int]
}

func newReadModelMetrics(pm *metrics) *readModelMetrics {
	r := &readModelMetrics{
		loads: pm.counterVec("zoomsync_readmodel_loads_total",
			"Full loads of the read model from Redis on this replica, by reason: start, gap (the change feed lost messages), mapping (a new mapping was published), drift (a drift check found too many users differing).",
			"reason"),
		loadTook: pm.histogramVec("zoomsync_readmodel_load_duration_seconds",
			"How long each full load of the read model took; lookups fall back to Redis until the first one ends.",
			prometheus.ExponentialBuckets(0.01, 4, 9)).WithLabelValues(),
		drifted: pm.counterVec("zoomsync_readmodel_drifted_users_total",
			"Users a drift check found differing between the read model and Redis (re-read then); a steady rise means the change feed misses changes.").WithLabelValues(),
		lookups: pm.counterVec("zoomsync_readmodel_lookups_total",
			"Helpdesk key lookups by who answered: model (the read model), redis (a key the model did not hold, or the model not loaded yet).",
			"answer"),
	}
	r.modelHit, r.modelMiss = r.lookups.WithLabelValues("model"), r.lookups.WithLabelValues("redis")
	pm.gaugeFunc("zoomsync_readmodel_users", "Users the read model holds on this replica (0 until its first load).", func() float64 {
		if f := r.users.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	return r
}

// watch makes zoomsync_readmodel_users report users() (serve's model).
func (r *readModelMetrics) watch(users func() int) { r.users.Store(&users) }

// readModelObserver tells the metrics and the log what the read model
// does (readmodel.Observer): a load other than the first and the mapping's
// is worth an INFO line, drift a warning.
type readModelObserver struct {
	*readModelMetrics
	log *slog.Logger
}

// Loaded implements readmodel.Observer.
func (r readModelObserver) Loaded(users int, d time.Duration, reason string) {
	r.loads.WithLabelValues(reason).Inc()
	r.loadTook.Observe(d.Seconds())
	level := slog.LevelInfo
	if reason == "start" || reason == "mapping" {
		level = slog.LevelDebug
	}
	r.log.Log(context.Background(), level, "read model loaded", slog.Int("users", users), slog.Duration("took", d), slog.String("reason", reason))
}

// Drifted implements readmodel.Observer.
func (r readModelObserver) Drifted(users int) {
	r.drifted.Add(float64(users))
	r.log.Warn("read model drifted from Redis: users re-read", slog.Int("users", users))
}

// Looked implements readmodel.Observer.
func (r readModelObserver) Looked(held bool) {
	if held {
		r.modelHit.Inc()
	} else {
		r.modelMiss.Inc()
	}
}
