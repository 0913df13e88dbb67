package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/zoomsync/zoomsync/internal/app"
)

// scrapeLabels are the labels Prometheus (and the Prometheus Operator's
// ServiceMonitor) add to every series it scrapes.
var scrapeLabels = []string{"namespace", "pod", "instance", "job", "container", "service", "endpoint"}

// runtimeMetrics are the Go runtime's and the process's series serve
// exports beside its own (client_golang's collectors); the queries may
// use these few.
var runtimeMetrics = map[string][]string{
	"go_goroutines":                 nil,
	"process_resident_memory_bytes": nil,
}

// exportedSeries maps every series name /metrics can hold (a histogram's
// _bucket, _count and _sum) to its labels.
func exportedSeries() map[string][]string {
	out := map[string][]string{}
	for name, labels := range runtimeMetrics {
		out[name] = labels
	}
	for _, m := range app.MetricCatalog() {
		if m.Type == "histogram" {
			out[m.Name+"_bucket"] = append(slices.Clone(m.Labels), "le")
			out[m.Name+"_count"] = m.Labels
			out[m.Name+"_sum"] = m.Labels
			continue
		}
		out[m.Name] = m.Labels
	}
	return out
}

// checkPromQL parses a query with Prometheus' own parser and returns what
// is wrong with it: a series serve does not export, a label matched or
// grouped by that none of the series it aggregates has.
func checkPromQL(query string, series map[string][]string) []string {
	expr, err := parser.ParseExpr(query)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var problems []string
	known := func(name, label string) bool {
		return slices.Contains(scrapeLabels, label) || slices.Contains(series[name], label)
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			if _, ok := series[n.Name]; !ok {
				problems = append(problems, fmt.Sprintf("%s: serve exports no such series", n.Name))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" && !known(n.Name, m.Name) {
					problems = append(problems, fmt.Sprintf("%s has no label %s", n.Name, m.Name))
				}
			}
		case *parser.AggregateExpr:
			var names []string
			parser.Inspect(n.Expr, func(inner parser.Node, _ []parser.Node) error {
				if vs, ok := inner.(*parser.VectorSelector); ok {
					names = append(names, vs.Name)
				}
				return nil
			})
			for _, label := range n.Grouping {
				if !slices.ContainsFunc(names, func(name string) bool { return known(name, label) }) {
					problems = append(problems, fmt.Sprintf("%s by (%s): none of %v has that label", n.Op, label, names))
				}
			}
		}
		return nil
	})
	return problems
}

func TestCheckPromQLFindsMistakes(t *testing.T) {
	series := exportedSeries()
	for _, tc := range []struct {
		query string
		want  string // a problem's start; "" for none
	}{
		{`sum by (reason) (rate(zoomsync_webhooks_refused_total{namespace="x"}[5m]))`, ""},
		{`histogram_quantile(0.99, sum by (le, account) (rate(zoomsync_inbox_apply_lag_seconds_bucket[5m])))`, ""},
		{`sum(rate(zoomsync_webhooks_refused[5m]))`, "zoomsync_webhooks_refused: serve exports no such series"},
		{`sum(rate(zoomsync_inbox_apply_lag_seconds[5m]))`, "zoomsync_inbox_apply_lag_seconds: serve exports"},
		{`zoomsync_target_pushes_total{account="a"}`, "zoomsync_target_pushes_total has no label account"},
		{`sum by (acount) (zoomsync_inbox_entries_applied_total)`, "sum by (acount)"},
		{`sum(rate(zoomsync_webhooks_total[5m]`, "does not parse"},
	} {
		got := checkPromQL(tc.query, series)
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%s: %v, want no problem", tc.query, got)
		case tc.want != "" && (len(got) == 0 || !strings.HasPrefix(got[0], tc.want)):
			t.Errorf("%s: %v, want %q", tc.query, got, tc.want)
		}
	}
}

// TestAlertsQueryExportedMetrics parses every expression of the chart's
// PrometheusRule and checks it against the metric catalogue, and that
// each alert is explained in the operator guide.
func TestAlertsQueryExportedMetrics(t *testing.T) {
	objs := render(t, valuesFile("single"))
	rule := one(t, objs, "PrometheusRule")
	series := exportedSeries()
	guide := readGuide(t)
	n := 0
	for _, g := range toSlice(get(rule, "spec", "groups")) {
		for _, r := range toSlice(get(g, "rules")) {
			name, _ := get(r, "alert").(string)
			expr, _ := get(r, "expr").(string)
			n++
			if name == "" || expr == "" {
				t.Errorf("group %v: a rule without alert or expr: %v", get(g, "name"), r)
				continue
			}
			for _, p := range checkPromQL(expr, series) {
				t.Errorf("%s: %s\n\t%s", name, p, expr)
			}
			if !strings.Contains(expr, `namespace="zoomsync"`) {
				t.Errorf("%s: the expression must keep to the release's namespace: %s", name, expr)
			}
			if sev := get(r, "labels", "severity"); !slices.Contains([]any{"critical", "warning", "info"}, sev) {
				t.Errorf("%s: severity %v", name, sev)
			}
			if !strings.Contains(guide, name) {
				t.Errorf("%s is not explained in docs/OPERATIONS.md", name)
			}
		}
	}
	if n < 10 {
		t.Errorf("%d alerts rendered", n)
	}
}
