package testserver

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a local Redis Cluster of three masters (no replicas), each a
// redis-server started and stopped like StartRedis's.
type Cluster struct {
	Nodes []*Redis
}

// StartCluster starts three cluster-enabled redis-servers on loopback
// ports and joins them with redis-cli --cluster create (slots split three
// ways).
func StartCluster(tb testing.TB) *Cluster { return StartClusterWithReplicas(tb, 0) }

// StartClusterWithReplicas starts three masters with replicas replicas
// each.
func StartClusterWithReplicas(tb testing.TB, replicas int) *Cluster {
	tb.Helper()
	c := &Cluster{}
	var addrs []string
	for i := 0; i < 3*(1+replicas); i++ {
		dir := tb.TempDir()
		n := StartRedis(tb, RedisOptions{Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0"}})
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr)
	}
	cli := lookBinary(tb, "redis-cli", "redis-tools")
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", itoa(replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("testserver: redis-cli --cluster create: %v\n%s", err, out)
	}
	// Wait until every node agrees the cluster is ok.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		client := redis.NewClient(&redis.Options{Addr: n.Addr})
		for {
			info, err := client.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				client.Close()
				tb.Fatalf("testserver: cluster not ok within 20 s: %v %s", err, info)
			}
			t := time.NewTimer(50 * time.Millisecond)
			<-t.C
		}
		client.Close()
	}
	return c
}

// Addrs lists the nodes' addresses (ZOOMSYNC_REDIS_ADDRS).
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Client returns a cluster client for tb.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { cc.Close() })
	return cc
}
