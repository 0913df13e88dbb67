package app

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/helpdesk"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// TestMetricCatalog lists every metric serve exports with its help text.
// A metric added, renamed or explained differently changes this table;
// deploy's tests check the chart's alerts and the Grafana dashboard
// against the catalogue.
func TestMetricCatalog(t *testing.T) {
	want := map[string]string{
		"zoomsync_build_info":                         "Always 1: the labels say which zoomsync build this process runs.",
		"zoomsync_directory_entries":                  "People in the current directory snapshot.",
		"zoomsync_directory_reads_total":              "Directory reads by result: ok, failed (unreachable, partial), refused (empty or shrank too much).",
		"zoomsync_full_pull_duration_seconds":         "Duration of full user pulls.",
		"zoomsync_full_pulls_total":                   "Full user pulls by account and result.",
		"zoomsync_http_request_duration_seconds":      "HTTP requests other than webhooks (helpdesk API, board, health, metrics) by method, route pattern and status code; a live stream counts until its answer starts.",
		"zoomsync_inbox_apply_lag_seconds":            "From a webhook's acknowledgement to Zoom to its facts being applied to the user's record, by account.",
		"zoomsync_inbox_dead_letters":                 "Entries moved to the dead-letter stream (alert on any).",
		"zoomsync_inbox_entries_applied_total":        "Inbox entries applied and acknowledged, by account.",
		"zoomsync_inbox_lag_entries":                  "Inbox entries not yet delivered to a consumer.",
		"zoomsync_inbox_pending_entries":              "Inbox entries delivered and not yet acknowledged.",
		"zoomsync_live_streams":                       "Live presence streams (GET /v1/presence/stream) open on this replica.",
		"zoomsync_live_streams_refused_total":         "Live streams refused with 503 by the cap reached: process or token.",
		"zoomsync_mapping_conflicts":                  "Conflicts in the last mapping: an entry claimed by several users, or several entries for one user.",
		"zoomsync_mapping_disabled_active_users":      "Zoom users still active whose directory entry is disabled, in the last mapping: the deprovisioning gap.",
		"zoomsync_mapping_runs_total":                 "Link computations by result.",
		"zoomsync_mapping_unmatched_entries":          "Directory people without a Zoom user, in the last mapping.",
		"zoomsync_mapping_users":                      "Zoom users (deleted ones aside) by the last mapping's outcome: matched, unmatched (no directory entry), conflicted (held back by a conflict).",
		"zoomsync_outbox_partitions_owned":            "Outbox partitions this replica sends presence for.",
		"zoomsync_outbox_partitions_share":            "Outbox partitions this replica may hold: its share among the live replicas.",
		"zoomsync_presence_rereads_total":             "REST presence re-reads of users nothing confirmed lately, by account and result.",
		"zoomsync_redis_up":                           "1 if Redis answered the last scrape's inbox queries.",
		"zoomsync_target_push_delay_seconds":          "From a status change to its delivery at the target.",
		"zoomsync_target_push_duration_seconds":       "How long a target took to answer a push, whatever the answer.",
		"zoomsync_target_pushes_total":                "Presence pushes by target and result: delivered, skipped, failed (retried), dead.",
		"zoomsync_target_auth_failures_total":         "Pushes a target refused for its credentials or consent (Teams: a 401/403 from Microsoft Graph or its token endpoint); alert on any.",
		"zoomsync_webhook_ack_duration_seconds":       "From a webhook request's arrival to its answer, by status code; Zoom counts a delivery not answered within 3 s as failed.",
		"zoomsync_webhooks_refused_total":             "Webhook requests answered with an error, by reason: the signature (missing_signature, missing_timestamp, stale_timestamp, signature_mismatch, no_secret), unknown_account, malformed_event, unreadable_body, body_too_large, or unavailable (not stored: Zoom retries).",
		"zoomsync_webhooks_total":                     "Webhook requests by event family and outcome.",
		"zoomsync_zoom_api_rate_limited_total":        "Zoom API 429 answers by account and X-RateLimit-Type.",
		"zoomsync_zoom_api_requests_total":            "Zoom API HTTP attempts by account, endpoint and status.",
		"zoomsync_zoom_token_fetches_total":           "OAuth token fetches by account and result.",
		"zoomsync_intake_events_total":                "Events received by intake (webhook, websocket), event family and outcome.",
		"zoomsync_job_runs_total":                     "Runs of leader-only periodic jobs on this replica, by job and result: ok, failed, skipped (another replica holds the work).",
		"zoomsync_job_duration_seconds":               "How long each periodic job run that did the work took (ok or failed), by job.",
		"zoomsync_job_last_success_timestamp_seconds": "When each periodic job last succeeded on this replica (Unix seconds); the newest across replicas is the job's.",
		"zoomsync_websocket_state":                    "1 for the state each WebSocket subscription is in on this replica: connected, standby (another replica holds it), connecting, backoff, stopped.",
		"zoomsync_websocket_reconnects_total":         "WebSocket connections ended, by why: closed, silent, token_expiring, invalid_token, refused, dial_failed, no_token.",
		"zoomsync_websocket_frames_total":             "Frames received from Zoom by module: message, heartbeat, build_connection, other, malformed.",
		"zoomsync_websocket_gap_seconds":              "How long each WebSocket gap lasted (from the last stored event or heartbeat to the new connection).",
		"zoomsync_websocket_repairs_total":            "Gap repairs by result: complete, failed (run again), stopped.",
		"zoomsync_websocket_repair_users":             "Presence re-reads the current (or last) gap repair has to do.",
		"zoomsync_websocket_repair_done_users":        "Presence re-reads the current (or last) gap repair has done.",
		"zoomsync_readmodel_loads_total":              "Full loads of the read model from Redis on this replica, by reason: start, gap (the change feed lost messages), mapping (a new mapping was published), drift (a drift check found too many users differing).",
		"zoomsync_readmodel_load_duration_seconds":    "How long each full load of the read model took; lookups fall back to Redis until the first one ends.",
		"zoomsync_readmodel_drifted_users_total":      "Users a drift check found differing between the read model and Redis (re-read then); a steady rise means the change feed misses changes.",
		"zoomsync_readmodel_lookups_total":            "Helpdesk key lookups by who answered: model (the read model), redis (a key the model did not hold, or the model not loaded yet).",
		"zoomsync_readmodel_users":                    "Users the read model holds on this replica (0 until its first load).",
	}
	got := map[string]string{}
	for _, mi := range MetricCatalog() {
		if _, dup := got[mi.Name]; dup {
			t.Errorf("%s declared twice", mi.Name)
		}
		got[mi.Name] = mi.Help
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if got[name] != want[name] {
			t.Errorf("%s: help %q, want %q", name, got[name], want[name])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s (%q) is not in this test's list", name, got[name])
		}
	}
}

// TestMetricsFollowConventions gathers every metric (one series of each,
// with the inbox attached to a Redis) and lints the families the way
// promtool does: base units, _total on counters and nowhere else,
// snake_case. It also checks that everything the registry exports is in
// the catalogue: a metric registered past the helpers would escape the
// checks of the docs, the alerts and the dashboard.
func TestMetricsFollowConventions(t *testing.T) {
	m := newMetrics()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	m.inbox.attach(zsync.NewInbox(rdb, zsync.InboxOptions{Partitions: 2}), []string{"A"})
	for _, mi := range m.catalog {
		touch(t, m, mi)
	}
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	var ours []*dto.MetricFamily
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "zoomsync_") {
			exported[f.GetName()] = true
			ours = append(ours, f)
		}
	}
	for _, mi := range m.catalog {
		if !exported[mi.Name] {
			t.Errorf("%s is in the catalogue but not exported", mi.Name)
		}
		delete(exported, mi.Name)
	}
	for name := range exported {
		t.Errorf("%s is exported but not in the catalogue", name)
	}
	problems, err := promlint.NewWithMetricFamilies(ours).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// touch makes one series of a labelled metric exist.
func touch(t *testing.T, m *metrics, mi MetricInfo) {
	t.Helper()
	if len(mi.Labels) == 0 {
		return
	}
	values := make([]string, len(mi.Labels))
	for i := range values {
		values[i] = "x"
	}
	var c prometheus.Collector
	switch mi.Name {
	case "zoomsync_webhooks_total":
		c = m.webhooks
	case "zoomsync_webhooks_refused_total":
		c = m.webhookRefused
	case "zoomsync_webhook_ack_duration_seconds":
		c = m.webhookAck
	case "zoomsync_inbox_entries_applied_total":
		c = m.applied
	case "zoomsync_inbox_apply_lag_seconds":
		c = m.applyLag
	case "zoomsync_zoom_api_requests_total":
		c = m.apiRequests
	case "zoomsync_zoom_api_rate_limited_total":
		c = m.api429
	case "zoomsync_zoom_token_fetches_total":
		c = m.tokenFetch
	case "zoomsync_full_pulls_total":
		c = m.pulls
	case "zoomsync_full_pull_duration_seconds":
		c = m.pullSeconds
	case "zoomsync_directory_reads_total":
		c = m.directoryReads
	case "zoomsync_mapping_runs_total":
		c = m.mappingRuns
	case "zoomsync_mapping_users":
		c = m.mappingUsers
	case "zoomsync_target_pushes_total":
		c = m.pushes
	case "zoomsync_target_auth_failures_total":
		c = m.targetAuth
	case "zoomsync_target_push_delay_seconds":
		c = m.pushDelay
	case "zoomsync_target_push_duration_seconds":
		c = m.pushDuration
	case "zoomsync_presence_rereads_total":
		c = m.presenceReads
	case "zoomsync_http_request_duration_seconds":
		c = m.httpRequests
	case "zoomsync_live_streams_refused_total":
		c = m.streamsRefused
	case "zoomsync_job_runs_total":
		c = m.jobs.runs
	case "zoomsync_job_duration_seconds":
		c = m.jobs.duration
	case "zoomsync_job_last_success_timestamp_seconds":
		c = m.jobs.lastSuccess
	case "zoomsync_intake_events_total":
		c = m.ws.events
	case "zoomsync_websocket_state":
		c = m.ws.state
	case "zoomsync_websocket_reconnects_total":
		c = m.ws.reconnects
	case "zoomsync_websocket_frames_total":
		c = m.ws.frames
	case "zoomsync_websocket_gap_seconds":
		c = m.ws.gapSeconds
	case "zoomsync_websocket_repairs_total":
		c = m.ws.repairs
	case "zoomsync_websocket_repair_users":
		c = m.ws.repairUsers
	case "zoomsync_websocket_repair_done_users":
		c = m.ws.repairDone
	case "zoomsync_readmodel_loads_total":
		c = m.readModel.loads
	case "zoomsync_readmodel_lookups_total":
		c = m.readModel.lookups
	case "zoomsync_build_info", "zoomsync_inbox_lag_entries", "zoomsync_inbox_pending_entries", "zoomsync_inbox_dead_letters":
		return // set at start, or collected from Redis
	default:
		t.Fatalf("%s: labelled, but this test does not know its field", mi.Name)
	}
	switch v := c.(type) {
	case *prometheus.CounterVec:
		v.WithLabelValues(values...).Inc()
	case *prometheus.GaugeVec:
		v.WithLabelValues(values...).Set(1)
	case *prometheus.HistogramVec:
		v.WithLabelValues(values...).Observe(1)
	}
}

// TestInstrumentLabelsRoutes: the HTTP histograms carry the pattern the
// mux matched, never the path a client sent, and webhooks go to their own
// histogram; a live stream counts until its answer starts.
func TestInstrumentLabelsRoutes(t *testing.T) {
	m := newMetrics()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/presence/{key}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) })
	mux.HandleFunc("POST /webhooks/zoom/{account_id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) })
	release := make(chan struct{})
	mux.HandleFunc("GET /v1/presence/stream", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-release
	})
	srv := httptest.NewServer(m.instrument(helpdesk.JSONErrors(mux)))
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/presence/alice@example.com"}, {"GET", "/v1/presence/zs:{a:x:p:00}:inbox"},
		{"POST", "/webhooks/zoom/whatever-account"}, {"GET", "/no/such/thing"}, {"BREW", "/v1/presence/x"},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	stream, err := http.Get(srv.URL + "/v1/presence/stream")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stream's answer is counted while it is open", func() bool {
		return strings.Contains(gatherText(t, m), `zoomsync_http_request_duration_seconds_count{code="200",method="GET",route="/v1/presence/stream"} 1`)
	})
	close(release)
	stream.Body.Close()
	text := gatherText(t, m)
	for _, want := range []string{
		`zoomsync_http_request_duration_seconds_count{code="404",method="GET",route="/v1/presence/{key}"} 2`,
		`zoomsync_webhook_ack_duration_seconds_count{code="401"} 1`,
		`zoomsync_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
		`zoomsync_http_request_duration_seconds_count{code="405",method="other",route="unmatched"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %s", want)
		}
	}
	if bad := labelsWithRedisKeys(t, strings.NewReader(text)); len(bad) > 0 {
		t.Errorf("labels carry Redis keys or request paths: %v", bad)
	}
}

func gatherText(t *testing.T, m *metrics) string {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// labelsWithRedisKeys returns every series of a /metrics text whose label
// values hold a Redis key (zs:…, a {hash tag}) or a path a client chose.
func labelsWithRedisKeys(t *testing.T, r io.Reader) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for name, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				v := l.GetValue()
				if strings.Contains(v, "zs:") || strings.Contains(v, "{a:") || strings.Contains(v, "alice@") || strings.Contains(v, "whatever-account") {
					bad = append(bad, name+"{"+l.GetName()+"="+v+"}")
				}
			}
		}
	}
	return bad
}
