// Package testserver starts real redis-server, slapd and Samba Active
// Directory processes for integration tests and benchmarks: each on a free
// loopback port, in its own temporary directory, stopped by the PID this
// package started (never by name), and cleaned up with the test.
//
// Invariants:
//   - Only loopback addresses are ever bound: 127.0.0.1, and for a Samba
//     DC (whose ports are fixed: 389, 636, 3268, 3269) a random 127.x.y.z
//     of its own, checked free and named in its certificate; the DC's
//     rootDSE must name the host it was provisioned as before it counts
//     as ready, so a test never talks to another test's DC.
//   - A server is ready when it answers its protocol (PING, rootDSE), not
//     after a fixed delay.
//   - Missing binaries fail the test with the command that installs them
//     (scripts/ensure-packages.sh); they are never silently skipped, because
//     a skipped integration test reads as a passing one.
//   - Tests get handles to crash (SIGKILL), pause (SIGSTOP/SIGCONT) and
//     restart a server on the same port and data directory, which is how
//     crash and failover scenarios are written.
//   - A Security makes Redis look like a managed service (requirepass, an
//     ACL user, TLS only with generated certificates, Sentinels with their
//     own password and ACL user); the harness's own connections then use
//     the admin password and the test CA, and Settings/Env say how
//     zoomsync connects as the ACL user. ZOOMSYNC_TEST_REDIS=secure
//     (SecureRun) asks the backends helpers for these topologies.
package testserver
