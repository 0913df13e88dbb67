package app

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/zoomsync/zoomsync/internal/buildinfo"
	"github.com/zoomsync/zoomsync/presence/target"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// MetricInfo describes one zoomsync_* series family of /metrics.
type MetricInfo struct {
	Name   string
	Type   string // counter, gauge or histogram
	Help   string
	Labels []string
}

// MetricCatalog lists every zoomsync_* metric serve exports, by name. The
// operator guide, the Helm chart's alerts and the Grafana dashboard are
// checked against it.
func MetricCatalog() []MetricInfo {
	return newMetrics().catalog
}

// Label values are bounded: they come from configuration (account ids,
// target names), from fixed sets (outcomes, reasons, route patterns), or
// are reduced to one first (HTTP status codes, event names). None is a
// Redis key or anything a request names.

// metrics are the process's Prometheus series. Each is declared here,
// through the helpers below, which record it in the catalogue.
type metrics struct {
	reg     *prometheus.Registry
	catalog []MetricInfo

	webhooks       *prometheus.CounterVec
	webhookRefused *prometheus.CounterVec
	webhookAck     *prometheus.HistogramVec
	applied        *prometheus.CounterVec
	applyLag       *prometheus.HistogramVec
	inbox          *inboxCollector

	apiRequests *prometheus.CounterVec
	api429      *prometheus.CounterVec
	tokenFetch  *prometheus.CounterVec
	pulls       *prometheus.CounterVec
	pullSeconds *prometheus.HistogramVec

	directoryReads    *prometheus.CounterVec
	directoryEntries  prometheus.Gauge
	mappingRuns       *prometheus.CounterVec
	mappingUsers      *prometheus.GaugeVec
	mappingUnmatched  prometheus.Gauge // directory people without a Zoom user
	mappingConflicts  prometheus.Gauge
	mappingDisabledOn prometheus.Gauge

	pushes        *prometheus.CounterVec
	pushDelay     *prometheus.HistogramVec
	pushDuration  *prometheus.HistogramVec
	targetAuth    *prometheus.CounterVec // credentials or consent refused
	presenceReads *prometheus.CounterVec
	// outboxPartitions, once set (serve's sender), says how many outbox
	// partitions this replica owns and may hold.
	outboxPartitions atomic.Pointer[func() (owned, share int64)]

	ws        *webSocketMetrics
	jobs      *jobMetrics
	readModel *readModelMetrics

	httpRequests   *prometheus.HistogramVec
	httpSeries     sync.Map // httpSeries → prometheus.Observer (httpmetrics.go)
	streamsOpen    prometheus.Gauge
	streamsRefused *prometheus.CounterVec
}

// Histogram buckets.
var (
	// Zoom counts a delivery not answered within 3 s as failed; the
	// handler gives up on Redis at 2.5 s.
	webhookAckBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5}
	// From milliseconds (the usual) to the inbox's hour of retention.
	applyLagBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	// A target's answer: its timeout is seconds.
	pushDurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	httpBuckets         = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	bi := buildinfo.Read()
	m.gaugeVec("zoomsync_build_info", "Always 1: the labels say which zoomsync build this process runs.",
		"version", "revision", "goversion").WithLabelValues(bi.Version, bi.Commit, bi.GoVersion).Set(1)

	// Webhooks and the inbox.
	m.webhooks = m.counterVec("zoomsync_webhooks_total", "Webhook requests by event family and outcome.", "event", "outcome")
	m.webhookRefused = m.counterVec("zoomsync_webhooks_refused_total",
		"Webhook requests answered with an error, by reason: the signature (missing_signature, missing_timestamp, stale_timestamp, signature_mismatch, no_secret), unknown_account, malformed_event, unreadable_body, body_too_large, or unavailable (not stored: Zoom retries).",
		"reason")
	m.webhookAck = m.histogramVec("zoomsync_webhook_ack_duration_seconds",
		"From a webhook request's arrival to its answer, by status code; Zoom counts a delivery not answered within 3 s as failed.",
		webhookAckBuckets, "code")
	m.applied = m.counterVec("zoomsync_inbox_entries_applied_total", "Inbox entries applied and acknowledged, by account.", "account")
	m.applyLag = m.histogramVec("zoomsync_inbox_apply_lag_seconds",
		"From a webhook's acknowledgement to Zoom to its facts being applied to the user's record, by account.", applyLagBuckets, "account")
	m.inbox = newInboxCollector(m)

	// Zoom's API and full pulls.
	m.apiRequests = m.counterVec("zoomsync_zoom_api_requests_total", "Zoom API HTTP attempts by account, endpoint and status.", "account", "endpoint", "status")
	m.api429 = m.counterVec("zoomsync_zoom_api_rate_limited_total", "Zoom API 429 answers by account and X-RateLimit-Type.", "account", "type")
	m.tokenFetch = m.counterVec("zoomsync_zoom_token_fetches_total", "OAuth token fetches by account and result.", "account", "result")
	m.pulls = m.counterVec("zoomsync_full_pulls_total", "Full user pulls by account and result.", "account", "result")
	m.pullSeconds = m.histogramVec("zoomsync_full_pull_duration_seconds", "Duration of full user pulls.",
		prometheus.ExponentialBuckets(1, 2, 14), "account")

	// The directory and the mapping.
	m.directoryReads = m.counterVec("zoomsync_directory_reads_total",
		"Directory reads by result: ok, failed (unreachable, partial), refused (empty or shrank too much).", "result")
	m.directoryEntries = m.gauge("zoomsync_directory_entries", "People in the current directory snapshot.")
	m.mappingRuns = m.counterVec("zoomsync_mapping_runs_total", "Link computations by result.", "result")
	m.mappingUsers = m.gaugeVec("zoomsync_mapping_users",
		"Zoom users (deleted ones aside) by the last mapping's outcome: matched, unmatched (no directory entry), conflicted (held back by a conflict).", "state")
	m.mappingUnmatched = m.gauge("zoomsync_mapping_unmatched_entries", "Directory people without a Zoom user, in the last mapping.")
	m.mappingConflicts = m.gauge("zoomsync_mapping_conflicts", "Conflicts in the last mapping: an entry claimed by several users, or several entries for one user.")
	m.mappingDisabledOn = m.gauge("zoomsync_mapping_disabled_active_users",
		"Zoom users still active whose directory entry is disabled, in the last mapping: the deprovisioning gap.")

	// Presence.
	m.pushes = m.counterVec("zoomsync_target_pushes_total",
		"Presence pushes by target and result: delivered, skipped, failed (retried), dead.", "target", "result")
	m.pushDelay = m.histogramVec("zoomsync_target_push_delay_seconds", "From a status change to its delivery at the target.",
		prometheus.ExponentialBuckets(0.005, 2, 16), "target")
	m.pushDuration = m.histogramVec("zoomsync_target_push_duration_seconds",
		"How long a target took to answer a push, whatever the answer.", pushDurationBuckets, "target")
	m.targetAuth = m.counterVec("zoomsync_target_auth_failures_total",
		"Pushes a target refused for its credentials or consent (Teams: a 401/403 from Microsoft Graph or its token endpoint); alert on any.", "target")
	m.presenceReads = m.counterVec("zoomsync_presence_rereads_total",
		"REST presence re-reads of users nothing confirmed lately, by account and result.", "account", "result")
	m.gaugeFunc("zoomsync_outbox_partitions_owned", "Outbox partitions this replica sends presence for.", func() float64 {
		owned, _ := m.partitions()
		return float64(owned)
	})
	m.gaugeFunc("zoomsync_outbox_partitions_share", "Outbox partitions this replica may hold: its share among the live replicas.", func() float64 {
		_, share := m.partitions()
		return float64(share)
	})

	// HTTP.
	m.httpRequests = m.histogramVec("zoomsync_http_request_duration_seconds",
		"HTTP requests other than webhooks (helpdesk API, board, health, metrics) by method, route pattern and status code; a live stream counts until its answer starts.",
		httpBuckets, "method", "route", "code")
	m.streamsOpen = m.gauge("zoomsync_live_streams", "Live presence streams (GET /v1/presence/stream) open on this replica.")
	m.streamsRefused = m.counterVec("zoomsync_live_streams_refused_total", "Live streams refused with 503 by the cap reached: process or token.", "limit")

	// WebSocket subscriptions and gap repairs (websocket.go).
	m.ws = newWebSocketMetrics(m)
	// Leader-only periodic jobs (jobmetrics.go).
	m.jobs = newJobMetrics(m)
	// The read model (readmodel.go).
	m.readModel = newReadModelMetrics(m)

	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	slices.SortFunc(m.catalog, func(a, b MetricInfo) int { return strings.Compare(a.Name, b.Name) })
	return m
}

func (m *metrics) note(name, typ, help string, labels []string) {
	m.catalog = append(m.catalog, MetricInfo{Name: name, Type: typ, Help: help, Labels: labels})
}

func (m *metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(c)
	m.note(name, "counter", help, labels)
	return c
}

func (m *metrics) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(g)
	m.note(name, "gauge", help, labels)
	return g
}

func (m *metrics) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	m.reg.MustRegister(g)
	m.note(name, "gauge", help, nil)
	return g
}

func (m *metrics) gaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	m.note(name, "gauge", help, nil)
}

func (m *metrics) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	m.reg.MustRegister(h)
	m.note(name, "histogram", help, labels)
	return h
}

// desc declares a series a custom collector exports.
func (m *metrics) desc(name, typ, help string, labels ...string) *prometheus.Desc {
	m.note(name, typ, help, labels)
	return prometheus.NewDesc(name, help, labels, nil)
}

// watchOutbox makes the outbox partition gauges read the sender's.
func (m *metrics) watchOutbox(partitions func() (owned, share int64)) {
	m.outboxPartitions.Store(&partitions)
}

func (m *metrics) partitions() (owned, share int64) {
	if f := m.outboxPartitions.Load(); f != nil {
		return (*f)()
	}
	return 0, 0
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

// mapped records the outcome of a mapping run.
func (m *metrics) mapped(matched, unmatched, conflicted, unmatchedEntries, conflicts, disabledActive int) {
	m.mappingRuns.WithLabelValues("ok").Inc()
	m.mappingUsers.WithLabelValues("matched").Set(float64(matched))
	m.mappingUsers.WithLabelValues("unmatched").Set(float64(unmatched))
	m.mappingUsers.WithLabelValues("conflicted").Set(float64(conflicted))
	m.mappingUnmatched.Set(float64(unmatchedEntries))
	m.mappingConflicts.Set(float64(conflicts))
	m.mappingDisabledOn.Set(float64(disabledActive))
}

// pushed records a push's outcome (the sender's OnResult).
func (m *metrics) pushed(name, result string, delay time.Duration) {
	m.pushes.WithLabelValues(name, result).Inc()
	if result == target.ResultDelivered {
		m.pushDelay.WithLabelValues(name).Observe(delay.Seconds())
	}
}

// inboxApplied records a batch the consumer applied at now.
func (m *metrics) inboxApplied(b zsync.AppliedBatch, now time.Time) {
	m.applied.WithLabelValues(b.Account).Add(float64(b.Entries))
	lag := m.applyLag.WithLabelValues(b.Account)
	for _, r := range b.Received {
		lag.Observe(max(now.Sub(r), 0).Seconds())
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
