package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	in := flag.String("in", "", "go test -bench output")
	out := flag.String("out", "docs/BENCHMARKS.md", "markdown file to update")
	flag.Parse()
	if err := run(*in, *out, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(in, out string, now time.Time) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	results, err := Parse(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("%s: no benchmark results (did the benchmarks fail?)", in)
	}
	generated := Render(results, DescribeMachine(), now)
	old, err := os.ReadFile(out)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(out, []byte(Splice(string(old), generated)), 0o644)
}
