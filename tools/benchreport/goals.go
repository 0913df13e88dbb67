package main

import (
	"fmt"
	"strings"
)

// Goal is what one metric of one benchmark must reach: at most Value
// when AtMost, else at least Value. The goals themselves are explained
// in the hand-written table of docs/BENCHMARKS.md; this list lets the
// generated section say, for the run at hand, which are met.
type Goal struct {
	Benchmark, Metric string
	AtMost            bool
	Value             float64
}

func (g Goal) String() string {
	if g.AtMost {
		return "≤ " + format(g.Value)
	}
	return "≥ " + format(g.Value)
}

// Met says whether v reaches the goal.
func (g Goal) Met(v float64) bool {
	if g.AtMost {
		return v <= g.Value
	}
	return v >= g.Value
}

// Goals of the benchmarks, as docs/BENCHMARKS.md states them.
var Goals = []Goal{
	{"BenchmarkPageAllUsers100k", "x-floor", true, 1.1},
	{"BenchmarkPageAllUsers100k", "429s", true, 0},
	{"BenchmarkWebhookIngest", "x-ref", false, 0.7},
	{"BenchmarkWebhookIngest", "p99-ms@5k/s", true, 10},
	{"BenchmarkResync100k", "s/resync", true, 10},
	{"BenchmarkResync100k", "peak-rss-MB", true, 150},
	{"BenchmarkResyncLinearity1M", "x-100k", true, 11},
	{"BenchmarkDirectoryMap100k", "x-ldapsearch", true, 1.5},
	{"BenchmarkDirectoryMap100k", "peak-rss-MB", true, 200},
	{"BenchmarkDirectoryMapAD", "x-ldapsearch", true, 1.5},
	{"BenchmarkPresenceEndToEnd", "p99-ms", true, 50},
	{"BenchmarkPresenceEndToEnd", "lost", true, 0},
	{"BenchmarkPresenceLookup", "x-redis", false, 0.5},
	{"BenchmarkPresenceLookup", "p99-ms", true, 5},
	{"BenchmarkPresenceLookup", "x-ceiling", false, 0.8},
	{"BenchmarkPresenceLookup", "p99-x-ceiling", true, 1.5},
	// The read model (readmodel): lookups, the board's search, the feed.
	{"BenchmarkReadModelSearch100k", "p99-ms", true, 10},
	{"BenchmarkReadModelLag", "p99-ms", true, 50},
	{"BenchmarkReadModelLag", "other-p99-ms", true, 50},
	{"BenchmarkReadModelMemory/users=100k", "heap-bytes/user", true, 250},
	{"BenchmarkReadModelMemory/users=1000k", "heap-bytes/user", true, 250},
	{"BenchmarkReadModelRebuild", "users/s", false, 200_000},
	{"BenchmarkReadModelRebuild", "heap-bytes/user", true, 250},
	{"BenchmarkScaleOut", "x-one", false, 0.9},
	{"BenchmarkScaleOut", "min-share-%", false, 23.3},
	{"BenchmarkScaleOut", "max-share-%", true, 43.3},
	{"BenchmarkWebSocketIntake", "x-webhook", false, 0.9},
	{"BenchmarkWebSocketIntake", "x-webhook-p50", true, 1.2},
	// The whole pipeline under the realistic mix, with a target.
	{"BenchmarkPipeline", "x-rivet", false, 0.6},
	{"BenchmarkPipeline", "x-bare", false, 0.25},
	{"BenchmarkPipeline", "ack-p99-ms@5k/s", true, 20},
	{"BenchmarkPipeline", "e2e-p99-ms@5k/s", true, 50},
	{"BenchmarkPipeline", "unapplied-at-end", true, 0},
	{"BenchmarkPipeline", "unpushed-at-end", true, 0},
	{"BenchmarkPipeline", "redis-cpu-us/ev", true, 25},
	{"BenchmarkPipeline", "redis-bytes/user", true, 2048},
	{"BenchmarkPipeline", "redis-bytes/history-entry", true, 60},
	{"BenchmarkPipeline", "lost", true, 0},
}

// renderGoals is the goals table for the benchmarks in results: each
// goal, the median and whether it is met ("not measured" when the run
// lacks the metric, e.g. a reference that was skipped).
func renderGoals(results []*Result, goals []Goal) string {
	byName := map[string]*Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	var b strings.Builder
	for _, g := range goals {
		r := byName[g.Benchmark]
		if r == nil {
			continue
		}
		if b.Len() == 0 {
			fmt.Fprintln(&b, "\n### Goals\n\n| benchmark | metric | goal | median | met |")
			fmt.Fprintln(&b, "| --- | --- | --- | ---: | --- |")
		}
		vs := r.Metrics[g.Metric]
		if len(vs) == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | — | not measured |\n", g.Benchmark, g.Metric, g)
			continue
		}
		m := Median(vs)
		met := "yes"
		if !g.Met(m) {
			met = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", g.Benchmark, g.Metric, g, format(m), met)
	}
	return b.String()
}
