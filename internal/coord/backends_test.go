package coord

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
)

// backends runs a test on miniredis, redis-server and a 3-master Cluster
// (every script keeps to one slot); with ZOOMSYNC_TEST_REDIS=secure on
// the secured server, Cluster and Sentinel as zoomsync's ACL user, so a
// command missing from redisconn.Commands fails here. expire fast-forwards
// TTLs where the backend can (miniredis).
func backends(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration))) {
	if testserver.SecureRun() {
		testserver.SecuredTopologies(t, []string{"+pttl"}, func(t *testing.T, rdb redis.UniversalClient) { test(t, rdb, nil) })
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
