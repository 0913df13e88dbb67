package testserver

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// Cluster is a local Redis Cluster of three masters (with replicas if
// asked), each a redis-server started and stopped like StartRedis's.
type Cluster struct {
	Nodes    []*Redis
	Security *Security // nil: plain text, no password
}

// ClusterOptions configure StartClusterWith.
type ClusterOptions struct {
	Replicas int       // per master
	Security *Security // on every node, the Cluster bus and replication
}

// StartCluster starts three cluster-enabled redis-servers on loopback
// ports and joins them with redis-cli --cluster create (slots split three
// ways).
func StartCluster(tb testing.TB) *Cluster { return StartClusterWith(tb, ClusterOptions{}) }

// StartClusterWithReplicas starts three masters with replicas replicas
// each.
func StartClusterWithReplicas(tb testing.TB, replicas int) *Cluster {
	return StartClusterWith(tb, ClusterOptions{Replicas: replicas})
}

// StartClusterWith starts three masters as opts says.
func StartClusterWith(tb testing.TB, opts ClusterOptions) *Cluster {
	tb.Helper()
	c := &Cluster{Security: opts.Security}
	var addrs []string
	for i := 0; i < 3*(1+opts.Replicas); i++ {
		dir := tb.TempDir()
		n := StartRedis(tb, RedisOptions{Security: opts.Security, Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0"}})
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr)
	}
	cli := lookBinary(tb, "redis-cli", "redis-tools")
	args := append(opts.Security.cliArgs(), "--cluster", "create")
	args = append(args, addrs...)
	args = append(args, "--cluster-replicas", itoa(opts.Replicas), "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("testserver: redis-cli --cluster create: %v\n%s", err, out)
	}
	// Wait until every node agrees the cluster is ok.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		client := redis.NewClient(n.Options())
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

// Client returns a cluster client for tb, connected as the harness (the
// admin password and test certificates when secured).
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	o := c.Nodes[0].Options()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Password: o.Password, TLSConfig: o.TLSConfig})
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// Settings are how zoomsync reaches the cluster: its nodes and, when
// secured, the ACL user and TLS.
func (c *Cluster) Settings() redisconn.Settings {
	st := c.Security.settings()
	st.Addrs = c.Addrs()
	return st
}

// Env is Settings as the variables an operator sets.
func (c *Cluster) Env() map[string]string { return EnvOf(c.Settings()) }
