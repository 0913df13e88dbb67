package app

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/zoomsync/zoomsync/zoomapi"
)

// metrics are the process's Prometheus series.
type metrics struct {
	reg         *prometheus.Registry
	webhooks    *prometheus.CounterVec
	applied     *prometheus.CounterVec
	apiRequests *prometheus.CounterVec
	api429      *prometheus.CounterVec
	tokenFetch  *prometheus.CounterVec
	pulls       *prometheus.CounterVec
	pullSeconds *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_webhooks_total",
			Help: "Webhook requests by event family and outcome."}, []string{"event", "outcome"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_inbox_entries_applied_total",
			Help: "Inbox entries applied and acknowledged."}, []string{"account"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_zoom_api_requests_total",
			Help: "Zoom API HTTP attempts by account, endpoint and status."}, []string{"account", "endpoint", "status"}),
		api429: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_zoom_api_rate_limited_total",
			Help: "Zoom API 429 answers by account and X-RateLimit-Type."}, []string{"account", "type"}),
		tokenFetch: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_zoom_token_fetches_total",
			Help: "OAuth token fetches by account and result."}, []string{"account", "result"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_full_pulls_total",
			Help: "Full user pulls by account and result."}, []string{"account", "result"}),
		pullSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zoomsync_full_pull_duration_seconds",
			Help: "Duration of full user pulls.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}, []string{"account"}),
	}
	m.reg.MustRegister(m.webhooks, m.applied, m.apiRequests, m.api429, m.tokenFetch, m.pulls, m.pullSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// eventFamily bounds the event label: Zoom's families, or "other".
func eventFamily(event string) string {
	for _, f := range []string{"user.", "phone.", "contact_center.", "endpoint."} {
		if strings.HasPrefix(event, f) {
			return event
		}
	}
	if event == "" {
		return "unknown"
	}
	return "other"
}

// Attempt implements zoomapi.Observer.
func (m *metrics) Attempt(a zoomapi.Attempt) {
	m.apiRequests.WithLabelValues(a.AccountID, a.Endpoint, strconv.Itoa(a.Status)).Inc()
	if a.Status == 429 {
		m.api429.WithLabelValues(a.AccountID, a.RateLimitType).Inc()
	}
}

// TokenFetch implements zoomapi.Observer.
func (m *metrics) TokenFetch(account string, _ time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.tokenFetch.WithLabelValues(account, result).Inc()
}
