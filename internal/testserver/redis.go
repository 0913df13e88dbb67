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
)

// RedisOptions configures StartRedis.
type RedisOptions struct {
	// AOF turns on appendonly with appendfsync everysec, so a restart after
	// a crash recovers what Redis had acknowledged up to a second before.
	AOF bool
	// Args are extra redis-server arguments, e.g. {"--maxmemory", "64mb"}.
	Args []string
}

// Redis is a running redis-server.
type Redis struct {
	Addr string // 127.0.0.1:port
	Port int
	Dir  string // data and log directory

	daemon
	bin  string
	opts RedisOptions
}

// StartRedis starts a redis-server for tb and stops it when tb ends.
func StartRedis(tb testing.TB, opts RedisOptions) *Redis {
	tb.Helper()
	r := &Redis{bin: lookBinary(tb, "redis-server", "redis-server"), opts: opts, Dir: tb.TempDir()}
	r.daemon = daemon{tb: tb, name: "redis-server", grace: 5 * time.Second, start: r.start}
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
	args := []string{
		"--port", itoa(r.Port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--dir", r.Dir, "--daemonize", "no", "--logfile", filepath.Join(r.Dir, "redis.log"),
		"--save", "",
	}
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
	client := redis.NewClient(&redis.Options{Addr: r.Addr, DialTimeout: time.Second, MaxRetries: -1})
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

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Client returns a new go-redis client for the server, closed with the test.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	r.tb.Cleanup(func() { _ = c.Close() })
	return c
}

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
