#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 10s).
# go test -fuzz accepts one target per package per run, so targets are run
# one by one. Usage: scripts/fuzz.sh [FUZZTIME]
#
# Go 1.26's fuzz coordinator can end a run that found nothing with a bare
# "context deadline exceeded" when a worker is slow to stop at the
# -fuzztime boundary (golang/go#75804, fixed in Go 1.27). Such a run is
# tried once more; a run that wrote a failing input, or fails twice, fails.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
found=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" "$1" 2>&1 | tee "$log"; }
boundary_flake() {
  grep -q 'context deadline exceeded' "$log" &&
    ! grep -qE 'Failing input written|panic:|^\s+[A-Za-z0-9_]+_test\.go:[0-9]+:' "$log"
}
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    found=$((found + 1))
    echo "fuzz: $pkg $target for $fuzztime"
    if ! run "$pkg" "$target"; then
      if boundary_flake; then
        echo "fuzz: $target ended on Go's -fuzztime boundary race (golang/go#75804), no failing input: running it once more"
        run "$pkg" "$target"
      else
        exit 1
      fi
    fi
  done
done < <(git ls-files --cached --others --exclude-standard -- '*_test.go' | xargs grep -l '^func Fuzz' 2>/dev/null | sort)
echo "fuzz: $found targets run for $fuzztime each"
