package main

import (
	"strings"
	"testing"
	"time"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/zoomsync/zoomsync/zoomapi
cpu: AMD EPYC
BenchmarkPageAll-2   	       1	5612345678 ns/op	       334.0 pages	         5.612 s/pass	         5.567 floor-s	         1.008 x-floor	         0 429s
BenchmarkPageAll-2   	       1	5712345678 ns/op	       334.0 pages	         5.712 s/pass	         5.567 floor-s	         1.026 x-floor	         0 429s
BenchmarkPageAll-2   	       1	5512345678 ns/op	       334.0 pages	         5.512 s/pass	         5.567 floor-s	         0.990 x-floor	         0 429s
--- some log line
PASS
ok  	github.com/zoomsync/zoomsync/zoomapi	20.1s
`

func TestParseAndRender(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Name != "BenchmarkPageAll" || len(res[0].Metrics["s/pass"]) != 3 {
		t.Fatalf("parsed %+v", res)
	}
	if got := Median(res[0].Metrics["s/pass"]); got != 5.612 {
		t.Fatalf("median = %v", got)
	}
	out := Render(res, Machine{Cores: 2, Go: "go1.26"}, time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC))
	for _, want := range []string{"| BenchmarkPageAll | x-floor | 1.008 | 0.990 | 1.026 | 3 |", "2026-11-24 03:00 UTC", "### github.com/zoomsync/zoomsync/zoomapi"} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
}

func TestMedianEven(t *testing.T) {
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median = %v", got)
	}
}

func TestSpliceKeepsHandWrittenText(t *testing.T) {
	gen := beginMarker + "\nNEW\n" + endMarker
	doc := "# Benchmarks\n\nGoals here.\n\n" + beginMarker + "\nOLD\n" + endMarker + "\n\nNotes after.\n"
	got := Splice(doc, gen)
	if !strings.Contains(got, "Goals here.") || !strings.Contains(got, "Notes after.") || strings.Contains(got, "OLD") || !strings.Contains(got, "NEW") {
		t.Fatalf("splice = %q", got)
	}
	if got := Splice("# B\n", gen); !strings.HasPrefix(got, "# B\n\n"+beginMarker) {
		t.Fatalf("append = %q", got)
	}
}

func TestGoalsTable(t *testing.T) {
	const raw = `pkg: github.com/zoomsync/zoomsync/internal/app
BenchmarkPipeline-2   	       1	      0.21 x-rivet	      0.089 x-bare	      267 ack-p99-ms@5k/s	0 unapplied-at-end
BenchmarkPipeline-2   	       1	      0.23 x-rivet	      0.091 x-bare	      12 ack-p99-ms@5k/s	0 unapplied-at-end
BenchmarkPipeline-2   	       1	      0.61 x-rivet	      0.3 x-bare	      15 ack-p99-ms@5k/s	3 unapplied-at-end
`
	res, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	goals := []Goal{{"BenchmarkPipeline", "x-rivet", false, 0.6}, {"BenchmarkPipeline", "ack-p99-ms@5k/s", true, 20},
		{"BenchmarkPipeline", "unapplied-at-end", true, 0}, {"BenchmarkPipeline", "redis-cpu-us/ev", true, 25},
		{"BenchmarkNotRun", "x-ref", false, 0.7}}
	got := renderGoals(res, goals)
	for _, want := range []string{
		"| BenchmarkPipeline | x-rivet | ≥ 0.600 | 0.230 | **no** |",
		"| BenchmarkPipeline | ack-p99-ms@5k/s | ≤ 20.000 | 15.000 | yes |",
		"| BenchmarkPipeline | unapplied-at-end | ≤ 0 | 0 | yes |",
		"| BenchmarkPipeline | redis-cpu-us/ev | ≤ 25.000 | — | not measured |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("goals table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "BenchmarkNotRun") {
		t.Errorf("a benchmark that did not run has goals shown:\n%s", got)
	}
	if renderGoals(nil, goals) != "" {
		t.Error("goals rendered without results")
	}
}
