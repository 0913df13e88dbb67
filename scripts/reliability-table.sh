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

Columns: webhooks acknowledged with a 200 during the scenario, how many of
them are in the final state (the test fails unless all are; "lost" is
therefore 0 whenever the table is written), and presence pushes a target
received twice for the same change ("n/a" where no target is configured).
For the slapd row, the counts are directory links before and after, and
"lost" is the largest drop in links seen while the fault lasted.

Recovery: for a killed serve, from its restart until every acknowledged
webhook is applied (entries the dead process had read wait for the 10 s
claim idle time); for a killed replica among three, from the kill until
the survivors have claimed every inbox entry it held (the state is right
again sooner, as newer events supersede); for a Sentinel failover, from
the master's SIGKILL until webhooks are acknowledged again (the old master
has to come back as a replica, since a webhook waits for one); for a
Cluster master or a frozen Redis, from the kill or SIGCONT until webhooks
are acknowledged again and every acknowledged one is applied; for a
resync through Zoom's errors, the whole run until the state matches Zoom;
for a target outage, from the target's return until every user's latest
status arrived; for slapd, from its restart until a complete read. For the
WebSocket rows, "acknowledged" is the events written to an open socket
(the others were lost at Zoom, as Zoom loses them, and repaired); recovery
is the slowest gap's time from the reconnection until every user's state
equals the fake Zoom's, or from the holder's SIGKILL until another replica
is connected (the fake counts that never two are).

The default test run (`.ci/run`) runs every scenario in its short form
(a 5 s freeze, a 30 s target outage); `task reliability` sets
ZOOMSYNC_RELIABILITY_LONG=1 (a 30 s freeze, a 3-minute outage).
TAIL
