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

// secureBackends runs a test on the secured topologies
// (testserver.SecuredTopologies), with testOnlyCommands granted too.
// Selected by ZOOMSYNC_TEST_REDIS=secure (task test-redis-secure).
func secureBackends(t *testing.T, test func(t *testing.T, rdb redis.UniversalClient, expire func(time.Duration))) {
	testserver.SecuredTopologies(t, testOnlyCommands, func(t *testing.T, rdb redis.UniversalClient) { test(t, rdb, nil) })
}

// testCluster starts a Cluster with replicas per master and connects to
// it: as the harness, or, on a secure run, secured and as zoomsync's ACL
// user.
func testCluster(t *testing.T, replicas int) redis.UniversalClient {
	if !testserver.SecureRun() {
		return testserver.StartClusterWithReplicas(t, replicas).Client(t)
	}
	sec := testserver.NewSecurity(t, append(redisconn.ACLRules(), testOnlyCommands...), redisconn.SentinelACLRules())
	return testserver.SecuredClient(t, testserver.StartClusterWith(t, testserver.ClusterOptions{Replicas: replicas, Security: sec}).Settings())
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
