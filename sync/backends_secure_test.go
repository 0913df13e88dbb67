package zsync

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// testOnlyCommands are what the tests alone send, to look at the state
// they check (a tombstone's PTTL, the keys a purge left); the secured
// topologies' ACL user has them on top of redisconn.ACLRules, and nothing
// else.
var testOnlyCommands = []string{"+pttl", "+keys", "+zscore", "+hexists"}

func testSecurity(t *testing.T) *testserver.Security {
	return testserver.NewSecurity(t, append(redisconn.ACLRules(), testOnlyCommands...), redisconn.SentinelACLRules())
}

// secureBackends runs a test on Redis as managed services run it, in each
// topology: requirepass, TLS only with a private CA (on the Cluster bus
// and replication too), and zoomsync connected as an ACL user with
// exactly redisconn.Commands (and testOnlyCommands), through the production client
// (redisconn.Open) after the start-up check. A command the reconciler
// sends without listing it there fails here with NOPERM. Selected by
// ZOOMSYNC_TEST_REDIS=secure (task test-redis-secure).
func secureBackends(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration))) {
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
			test(t, secureClient(t, b.start(t, testSecurity(t))), nil)
		})
	}
}

// secureClient connects to st as serve does, after the start-up check.
func secureClient(t *testing.T, st redisconn.Settings) redis.UniversalClient {
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

// testCluster starts a Cluster with replicas per master and connects to
// it: as the harness, or, on a secure run, secured and as zoomsync's ACL
// user.
func testCluster(t *testing.T, replicas int) redis.UniversalClient {
	if !testserver.SecureRun() {
		return testserver.StartClusterWithReplicas(t, replicas).Client(t)
	}
	return secureClient(t, testserver.StartClusterWith(t, testserver.ClusterOptions{Replicas: replicas, Security: testSecurity(t)}).Settings())
}

// allKeys lists the keys matching pattern on every master (KEYS on a
// Cluster client asks one node only).
func allKeys(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	ctx := context.Background()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Keys(ctx, pattern).Val()
	}
	var mu sync.Mutex
	var all []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		all = append(all, keys...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}
