#!/usr/bin/env bash
# Turns the "reliability:" lines the scenario tests log into the table of
# docs/RELIABILITY.md (task reliability).
set -euo pipefail
in=$1
cat <<HEAD
# Reliability

\`go tool -modfile=tools/task.mod task reliability\` runs these scenarios
against real redis-server processes (AOF on), the real binary where a
process is killed, and the fake Zoom; each asserts that nothing
acknowledged is lost and reports its figures here.

Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, commit $(git rev-parse --short HEAD).

| scenario | acknowledged | applied / delivered | lost | duplicates pushed | recovery |
| --- | ---: | ---: | ---: | ---: | ---: |
HEAD
grep -o 'reliability: .*' "$in" | sed -e 's/^reliability: /| /' -e 's/$/ |/'
cat <<'TAIL'

Recovery: for a killed serve, from its restart until every acknowledged
webhook is applied (entries the dead process had read wait for the 10 s
claim idle time); for a failover, from the master's SIGKILL until
webhooks are acknowledged again (the old master has to come back as a
replica, since a webhook waits for one); for a target outage, from the
target's return until every user's latest status arrived.

Not yet here (issue 7): a network pause to Redis (SIGSTOP/SIGCONT), a
Cluster master killed, 20 % 5xx and 429 storms during a resync, slapd
restarted during a directory read (each has its own test elsewhere, without
figures), and the soak run.
TAIL
