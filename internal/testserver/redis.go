package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// RedisOptions configures StartRedis.
type RedisOptions struct {
	// AOF turns on appendonly with appendfsync everysec, so a restart after
	// a crash recovers what Redis had acknowledged up to a second before.
	AOF bool
	// Args are extra redis-server arguments, e.g. {"--maxmemory", "64mb"}.
	Args []string
	// Security: a password, an ACL user, TLS; nil: none (plain text, no
	// password).
	Security *Security
}

// Redis is a running redis-server.
type Redis struct {
	Addr string // 127.0.0.1:port
	Port int
	Dir  string // data and log directory

	daemon
	bin  string
	opts RedisOptions
	conf string // the security configuration file, if any
}

// StartRedis starts a redis-server for tb and stops it when tb ends.
func StartRedis(tb testing.TB, opts RedisOptions) *Redis {
	tb.Helper()
	r := &Redis{bin: lookBinary(tb, "redis-server", "redis-server"), opts: opts, Dir: tb.TempDir()}
	r.daemon = daemon{tb: tb, name: "redis-server", grace: 5 * time.Second, start: r.start}
	r.conf = opts.Security.writeConf(tb, r.Dir)
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if r.Port, err = freePort(); err != nil {
			break
		}
		r.Addr = fmt.Sprintf("127.0.0.1:%d", r.Port)
		if err = r.launch(); err == nil {
			tb.Cleanup(r.Stop)
			return r
		}
	}
	tb.Fatalf("testserver: start redis-server: %v\n%s", err, r.logTail())
	return nil
}

func (r *Redis) start() (*process, error) {
	var args []string
	if r.conf != "" {
		args = append(args, r.conf)
	}
	args = append(args, r.opts.Security.portArgs(r.Port)...)
	args = append(args, "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--dir", r.Dir, "--daemonize", "no", "--logfile", filepath.Join(r.Dir, "redis.log"),
		"--save", "")
	if r.opts.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, r.opts.Args...)
	cmd := exec.Command(r.bin, args...)
	cmd.Stdin = nil
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	o := r.Options()
	o.DialTimeout, o.MaxRetries = time.Second, -1
	client := redis.NewClient(o)
	defer client.Close()
	err = waitReady(p, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return client.Ping(ctx).Err()
	})
	if err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// URL is the redis:// URL of the server (rediss:// with TLS), without
// credentials.
func (r *Redis) URL() string { return r.opts.Security.scheme() + "://" + r.Addr + "/0" }

// Options are go-redis options for the harness's own connections to the
// server: the admin password and the test CA and client certificate when
// it is secured.
func (r *Redis) Options() *redis.Options { return r.opts.Security.adminOptions(r.Addr) }

// Client returns a new go-redis client for the server (as Options),
// closed with the test.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(r.Options())
	r.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Settings are how zoomsync reaches the server: its URL and, when
// secured, the ACL user and TLS.
func (r *Redis) Settings() redisconn.Settings {
	st := r.opts.Security.settings()
	st.URL = secret.New(r.URL())
	return st
}

// Env is Settings as the variables an operator sets.
func (r *Redis) Env() map[string]string { return EnvOf(r.Settings()) }

func (r *Redis) logTail() string { return tail(filepath.Join(r.Dir, "redis.log"), 20) }

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			lines++
			if lines > n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
