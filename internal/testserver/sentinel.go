package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// MasterName is the name the Sentinels of StartSentinel monitor.
const MasterName = "zoomsync"

// Sentinel is a master, a replica and three Sentinels watching them
// (quorum 2, a master is down after 1 s), all on loopback ports.
type Sentinel struct {
	Master, Replica *Redis
	Sentinels       []*sentinelProc
	Security        *Security // nil: plain text, no passwords
}

// SentinelOptions configure StartSentinelWith.
type SentinelOptions struct {
	// Security applies to the master and replica, and to the Sentinels
	// (TLS, SentinelPassword, SentinelUser), which authenticate to the
	// master with AdminPassword.
	Security *Security
}

type sentinelProc struct {
	Addr string
	daemon
}

// StartSentinel starts the master, its replica and three Sentinels.
func StartSentinel(tb testing.TB) *Sentinel { return StartSentinelWith(tb, SentinelOptions{}) }

// StartSentinelWith starts the master, its replica and three Sentinels as
// opts says.
func StartSentinelWith(tb testing.TB, opts SentinelOptions) *Sentinel {
	tb.Helper()
	sec := opts.Security
	// No diskless-sync delay: the replica is in sync within milliseconds,
	// not after Redis's default 5 s wait for more replicas.
	s := &Sentinel{Security: sec, Master: StartRedis(tb, RedisOptions{AOF: true, Security: sec, Args: []string{"--repl-diskless-sync-delay", "0"}})}
	s.Replica = StartRedis(tb, RedisOptions{AOF: true, Security: sec, Args: []string{"--replicaof", "127.0.0.1", itoa(s.Master.Port), "--repl-diskless-sync-delay", "0"}})
	rc := s.Replica.Client()
	deadline := time.Now().Add(15 * time.Second)
	for info := ""; !strings.Contains(info, "master_link_status:up"); {
		if time.Now().After(deadline) {
			tb.Fatalf("testserver: the replica did not sync with its master: %s", info)
		}
		t := time.NewTimer(20 * time.Millisecond)
		<-t.C
		info, _ = rc.Info(context.Background(), "replication").Result()
	}
	bin := lookBinary(tb, "redis-server", "redis-server")
	for i := 0; i < 3; i++ {
		dir := tb.TempDir()
		var sp *sentinelProc
		for attempt := 0; attempt < 10; attempt++ {
			port, err := freePort()
			if err != nil {
				tb.Fatal(err)
			}
			conf := filepath.Join(dir, "sentinel.conf")
			body := fmt.Sprintf("%sbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
				sec.portConf(port), dir, MasterName, s.Master.Port, MasterName, MasterName, MasterName)
			body += sec.sentinelConf()
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				tb.Fatal(err)
			}
			sp = &sentinelProc{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
			sp.daemon = daemon{tb: tb, name: "redis-sentinel", grace: 5 * time.Second, start: func() (*process, error) {
				cmd := exec.Command(bin, conf, "--sentinel", "--daemonize", "no", "--logfile", filepath.Join(dir, "sentinel.log"))
				p, err := startProcess(cmd)
				if err != nil {
					return nil, err
				}
				o := sec.sentinelOptions(sp.Addr)
				o.DialTimeout, o.MaxRetries = time.Second, -1
				c := redis.NewSentinelClient(o)
				defer c.Close()
				if err := waitReady(p, 10*time.Second, func() error { return c.Ping(context.Background()).Err() }); err != nil {
					p.kill()
					return nil, err
				}
				return p, nil
			}}
			if err = sp.launch(); err == nil {
				tb.Cleanup(sp.Stop)
				break
			}
			sp = nil
		}
		if sp == nil {
			tb.Fatal("testserver: could not start a Sentinel")
		}
		s.Sentinels = append(s.Sentinels, sp)
	}
	return s
}

// Addrs lists the Sentinels' addresses (ZOOMSYNC_REDIS_ADDRS).
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sp := range s.Sentinels {
		out[i] = sp.Addr
	}
	return out
}

// MasterAddr asks a Sentinel which server is the master now.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	c := redis.NewSentinelClient(s.Security.sentinelOptions(s.Sentinels[0].Addr))
	defer c.Close()
	a, err := c.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return a[0] + ":" + a[1], nil
}

// Settings are how zoomsync reaches the master through the Sentinels:
// their addresses, the master name and, when secured, the ACL users and
// TLS.
func (s *Sentinel) Settings() redisconn.Settings {
	st := s.Security.settings()
	st.Addrs, st.MasterName = s.Addrs(), MasterName
	return st
}

// Env is Settings as the variables an operator sets.
func (s *Sentinel) Env() map[string]string { return EnvOf(s.Settings()) }
