package testserver

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// SecuredTopologies runs test on Redis as managed services run it, in
// each topology (a server, a 3-master Cluster, a master with a replica
// and three Sentinels): requirepass, TLS only with a private CA, and the
// client connected as zoomsync's ACL user with exactly
// redisconn.ACLRules plus testRules (commands only the test sends),
// through the production client after the start-up check. A command a
// package sends without listing it in redisconn.Commands fails there with
// NOPERM. Packages run it when SecureRun (ZOOMSYNC_TEST_REDIS=secure).
func SecuredTopologies(t *testing.T, testRules []string, test func(t *testing.T, rdb redis.UniversalClient)) {
	for _, b := range []struct {
		name  string
		start func(t *testing.T, sec *Security) redisconn.Settings
	}{
		{"redis-server-secure", func(t *testing.T, sec *Security) redisconn.Settings {
			return StartRedis(t, RedisOptions{Security: sec}).Settings()
		}},
		{"redis-cluster-secure", func(t *testing.T, sec *Security) redisconn.Settings {
			return StartClusterWith(t, ClusterOptions{Security: sec}).Settings()
		}},
		{"redis-sentinel-secure", func(t *testing.T, sec *Security) redisconn.Settings {
			return StartSentinelWith(t, SentinelOptions{Security: sec}).Settings()
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			test(t, SecuredClient(t, b.start(t, NewSecurity(t, append(redisconn.ACLRules(), testRules...), redisconn.SentinelACLRules()))))
		})
	}
}

// SecuredClient connects to st as serve does, after the start-up check;
// it is closed when the test ends.
func SecuredClient(t *testing.T, st redisconn.Settings) redis.UniversalClient {
	t.Helper()
	rdb, err := redisconn.Open(st, redisconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	if err := redisconn.Check(context.Background(), rdb, st); err != nil {
		t.Fatal(err)
	}
	return rdb
}
