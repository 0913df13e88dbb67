package mapstore

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// backends runs a test against miniredis, a real redis-server and a
// 3-master Cluster (every multi-key command must keep to one slot); with
// ZOOMSYNC_TEST_REDIS=secure (task test-redis-secure), against a server,
// a Cluster and Sentinels with passwords and TLS, connected as zoomsync's
// ACL user: a command the mapping sends without listing it in
// redisconn.Commands fails there with NOPERM.
func backends(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient)) {
	if testserver.SecureRun() {
		for _, b := range []struct {
			name  string
			start func(t *testing.T, sec *testserver.Security) redisconn.Settings
		}{
			{"redis-server-secure", func(t *testing.T, sec *testserver.Security) redisconn.Settings {
				return testserver.StartRedis(t, testserver.RedisOptions{Security: sec}).Settings()
			}},
			{"redis-cluster-secure", func(t *testing.T, sec *testserver.Security) redisconn.Settings {
				return testserver.StartClusterWith(t, testserver.ClusterOptions{Security: sec}).Settings()
			}},
			{"redis-sentinel-secure", func(t *testing.T, sec *testserver.Security) redisconn.Settings {
				return testserver.StartSentinelWith(t, testserver.SentinelOptions{Security: sec}).Settings()
			}},
		} {
			t.Run(b.name, func(t *testing.T) {
				st := b.start(t, testserver.NewSecurity(t, redisconn.ACLRules(), redisconn.SentinelACLRules()))
				rdb, err := redisconn.Open(st, redisconn.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rdb.Close() })
				if err := redisconn.Check(context.Background(), rdb, st); err != nil {
					t.Fatal(err)
				}
				test(t, rdb)
			})
		}
		return
	}
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { rdb.Close() })
		test(t, rdb)
	})
	t.Run("redis-server", func(t *testing.T) {
		test(t, testserver.StartRedis(t, testserver.RedisOptions{}).Client())
	})
	t.Run("redis-cluster", func(t *testing.T) {
		test(t, testserver.StartCluster(t).Client(t))
	})
}
