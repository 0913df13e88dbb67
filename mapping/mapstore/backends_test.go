package mapstore

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

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
		testserver.SecuredTopologies(t, nil, test)
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
