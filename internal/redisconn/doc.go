// Package redisconn opens zoomsync's connection to an operator's Redis
// (one server, a Cluster, or Sentinels and their master) with the
// credentials and TLS settings managed Redis services require, and checks
// at start-up that the server accepts them.
//
// Invariants:
//   - Passwords are secret.Secret from the environment to go-redis's
//     options: no error, log line or configuration summary of this package
//     carries one, and URL parse errors are never quoted (they would).
//   - Check's verdict is one line that names what failed and the
//     variable to look at. Kind Invalid means the configuration is wrong
//     (credentials, ACL permissions, certificates, TLS on one side only):
//     retrying cannot help, so commands stop with exit 2. Kind Unavailable
//     means Redis did not answer; nothing about the configuration is known.
//   - Commands lists every command zoomsync sends, with arguments under its
//     key and channel prefix; ACLRules is derived from it, the start-up
//     check probes it, and the test harness's ACL user gets exactly it, so
//     a command added without updating the list fails the secured test run.
package redisconn
