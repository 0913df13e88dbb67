package coord

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// backends runs a test on miniredis, redis-server and a 3-master Cluster
// (every script keeps to one slot); with ZOOMSYNC_TEST_REDIS=secure on
// the secured server, Cluster and Sentinel as zoomsync's ACL user, so a
// command missing from redisconn.Commands fails here. expire fast-forwards
// TTLs where the backend can (miniredis).
func backends(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration))) {
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
				sec := testserver.NewSecurity(t, append(redisconn.ACLRules(), "+pttl"), redisconn.SentinelACLRules())
				st := b.start(t, sec)
				rdb, err := redisconn.Open(st, redisconn.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rdb.Close() })
				if err := redisconn.Check(context.Background(), rdb, st); err != nil {
					t.Fatal(err)
				}
				test(t, rdb, nil)
			})
		}
		return
	}
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { rdb.Close() })
		test(t, rdb, m.FastForward)
	})
	t.Run("redis-server", func(t *testing.T) {
		test(t, testserver.StartRedis(t, testserver.RedisOptions{}).Client(), nil)
	})
	t.Run("redis-cluster", func(t *testing.T) {
		test(t, testserver.StartCluster(t).Client(t), nil)
	})
}
