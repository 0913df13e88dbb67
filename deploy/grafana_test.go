package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/internal/app"
)

// The chart can only package files under its own directory, so it holds
// a copy of the dashboard.
const (
	dashboardFile     = "grafana/zoomsync.json"
	dashboardInChart  = "helm/zoomsync/dashboards/zoomsync.json"
	grafanaRate       = "$__rate_interval"
	grafanaRateSample = "5m"
)

func readGuide(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestDashboard: the dashboard is valid JSON, the chart's copy is the
// same file, every query parses and asks only for series serve exports,
// and the metrics the operator guide calls out each have a panel.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if copied, err := os.ReadFile(dashboardInChart); err != nil || !bytes.Equal(b, copied) {
		t.Fatalf("%s must be a copy of %s (cp %[2]s %[1]s): %v", dashboardInChart, dashboardFile, err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("title %q, uid %q, %d panels", d.Title, d.UID, len(d.Panels))
	}
	series := exportedSeries()
	queried := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			// Grafana's variables: the rate interval is a duration, the
			// namespace sits inside a regular expression's quotes.
			q := strings.ReplaceAll(target.Expr, grafanaRate, grafanaRateSample)
			for _, problem := range checkPromQL(q, series) {
				t.Errorf("panel %q: %s\n\t%s", p.Title, problem, target.Expr)
			}
			for name := range series {
				if strings.Contains(q, name) {
					queried[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")] = true
				}
			}
		}
	}
	// The series an operator watches first: each has a panel.
	for _, name := range []string{
		"zoomsync_build_info", "zoomsync_webhooks_total", "zoomsync_webhooks_refused_total", "zoomsync_webhook_ack_duration_seconds",
		"zoomsync_inbox_apply_lag_seconds", "zoomsync_inbox_lag_entries", "zoomsync_target_push_duration_seconds",
		"zoomsync_target_push_delay_seconds", "zoomsync_http_request_duration_seconds", "zoomsync_redis_up", "zoomsync_target_auth_failures_total",
	} {
		if !slices.ContainsFunc(app.MetricCatalog(), func(m app.MetricInfo) bool { return m.Name == name }) {
			t.Errorf("%s is not in the metric catalogue", name)
		}
		if !queried[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}
