package app

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
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

	directoryReads   *prometheus.CounterVec
	directoryEntries prometheus.Gauge
	mappingRuns      *prometheus.CounterVec
	mappingReport    *prometheus.GaugeVec

	pushes        *prometheus.CounterVec
	pushLatency   *prometheus.HistogramVec
	presenceReads *prometheus.CounterVec

	streamsOpen    prometheus.Gauge
	streamsRefused *prometheus.CounterVec
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
		directoryReads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_directory_reads_total",
			Help: "Directory reads by result: ok, failed (unreachable, partial), refused (empty or shrank too much)."}, []string{"result"}),
		directoryEntries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zoomsync_directory_entries",
			Help: "People in the current directory snapshot."}),
		mappingRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_mapping_runs_total",
			Help: "Link computations by result."}, []string{"result"}),
		mappingReport: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zoomsync_mapping_users",
			Help: "Mapping report sizes: matched, unmatched_users, unmatched_entries, conflicts, disabled_active."}, []string{"category"}),
	}
	m.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_target_pushes_total",
		Help: "Presence pushes by target and result: delivered, skipped, failed (retried), dead."}, []string{"target", "result"})
	m.pushLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zoomsync_target_push_delay_seconds",
		Help: "From a status change to its delivery at the target.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}, []string{"target"})
	m.presenceReads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_presence_rereads_total",
		Help: "REST presence re-reads of users nothing confirmed lately, by account and result."}, []string{"account", "result"})
	m.reg.MustRegister(m.directoryReads, m.directoryEntries, m.mappingRuns, m.mappingReport, m.pushes, m.pushLatency, m.presenceReads)
	m.streamsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "zoomsync_live_streams",
		Help: "Live presence streams (GET /v1/presence/stream) open on this replica."})
	m.streamsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zoomsync_live_streams_refused_total",
		Help: "Live streams refused with 503 by the cap reached: process or token."}, []string{"limit"})
	m.reg.MustRegister(m.streamsOpen, m.streamsRefused)
	m.reg.MustRegister(m.webhooks, m.applied, m.apiRequests, m.api429, m.tokenFetch, m.pulls, m.pullSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// webhookEventLabel is the event label of zoomsync_webhooks_total: the
// handler reports only verified events, by a name from a fixed set
// (webhook.EventLabel) or "other"; a request refused before its
// signature was checked is "unknown".
func webhookEventLabel(event string) string {
	if event == "" {
		return "unknown"
	}
	return webhook.EventLabel(event)
}

// streamsChanged records the open live streams and a refusal, if any.
func (m *metrics) streamsChanged(open int, refused string) {
	m.streamsOpen.Set(float64(open))
	if refused != "" {
		m.streamsRefused.WithLabelValues(refused).Inc()
	}
}

// Attempt implements zoomapi.Observer. Labels come from configuration and
// zoomapi's route templates; what Zoom answers (the status, the
// X-RateLimit-Type header) is bounded to a fixed set first.
func (m *metrics) Attempt(a zoomapi.Attempt) {
	m.apiRequests.WithLabelValues(a.AccountID, a.Endpoint, statusLabel(a.Status)).Inc()
	if a.Status == 429 {
		m.api429.WithLabelValues(a.AccountID, rateLimitTypeLabel(a.RateLimitType)).Inc()
	}
}

// statusLabel is an HTTP status as a label: 0 (no answer), 100–599, or
// "other".
func statusLabel(status int) string {
	if status == 0 || (status >= 100 && status <= 599) {
		return strconv.Itoa(status)
	}
	return "other"
}

// rateLimitTypeLabel keeps Zoom's two documented X-RateLimit-Type values.
func rateLimitTypeLabel(t string) string {
	switch {
	case t == "":
		return ""
	case strings.EqualFold(t, "QPS"):
		return "QPS"
	case strings.EqualFold(t, "Daily-limit"):
		return "Daily-limit"
	}
	return "other"
}

// TokenFetch implements zoomapi.Observer.
func (m *metrics) TokenFetch(account string, _ time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.tokenFetch.WithLabelValues(account, result).Inc()
}

// inboxCollector reads inbox lag, pending entries and dead letters from
// Redis when /metrics is scraped.
type inboxCollector struct {
	inbox    *zsync.Inbox
	accounts []string
	lag      *prometheus.Desc
	pending  *prometheus.Desc
	dead     *prometheus.Desc
	up       *prometheus.Desc
}

func newInboxCollector(inbox *zsync.Inbox, accounts []string) *inboxCollector {
	labels := []string{"account", "stream"}
	return &inboxCollector{inbox: inbox, accounts: accounts,
		lag:     prometheus.NewDesc("zoomsync_inbox_lag_entries", "Inbox entries not yet delivered to a consumer.", labels, nil),
		pending: prometheus.NewDesc("zoomsync_inbox_pending_entries", "Inbox entries delivered and not yet acknowledged.", labels, nil),
		dead:    prometheus.NewDesc("zoomsync_inbox_dead_letters", "Entries moved to the dead-letter stream (alert on any).", labels, nil),
		up:      prometheus.NewDesc("zoomsync_redis_up", "1 if Redis answered the last scrape's inbox queries.", nil, nil),
	}
}

func (c *inboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.pending
	ch <- c.dead
	ch <- c.up
}

func (c *inboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	up := 1.0
	for _, a := range c.accounts {
		stats, err := c.inbox.Stats(ctx, a)
		if err != nil {
			up = 0
			break
		}
		for _, s := range stats {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(s.Lag), a, s.Stream)
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending), a, s.Stream)
			ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(s.DeadLetters), a, s.Stream)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}
