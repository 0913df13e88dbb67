// Command benchreport turns `go test -bench` output into the generated part
// of docs/BENCHMARKS.md: the machine, the date, and for every benchmark and
// metric the median, minimum and maximum over the -count runs.
//
// Machines here are noisy 2-core VMs, so medians are what we quote, and
// every benchmark reports its own reference as a ratio metric measured in
// the same run (metrics whose unit starts with "x-", e.g. x-floor). Text
// outside the markers <!-- bench:begin --> and <!-- bench:end --> in the
// output file is kept, so the goals and explanations are written by hand.
// The generated section ends with a table of the goals (Goals) of the
// benchmarks that ran, each with its median and whether it is met.
//
// Usage: go run ./tools/benchreport -in raw.txt -out docs/BENCHMARKS.md
package main
