package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result is every run of one benchmark.
type Result struct {
	Package string
	Name    string               // without the -GOMAXPROCS suffix
	Metrics map[string][]float64 // unit → one value per run
	Units   []string             // units in first-seen order
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` output. Lines it does not understand (test
// logs, PASS, ok) are skipped.
func Parse(r io.Reader) ([]*Result, error) {
	var (
		pkg     string
		byKey   = map[string]*Result{}
		ordered []*Result
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fields := strings.Fields(line)
		// Name, iterations, then value/unit pairs.
		if len(fields) < 4 || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(fields[0], "")
		key := pkg + " " + name
		res := byKey[key]
		if res == nil {
			res = &Result{Package: pkg, Name: name, Metrics: map[string][]float64{}}
			byKey[key] = res
			ordered = append(ordered, res)
		}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: value %q: %v", line, fields[i], err)
			}
			unit := fields[i+1]
			if _, seen := res.Metrics[unit]; !seen {
				res.Units = append(res.Units, unit)
			}
			res.Metrics[unit] = append(res.Metrics[unit], v)
		}
	}
	return ordered, sc.Err()
}

// Median of vs (vs is not modified).
func Median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
