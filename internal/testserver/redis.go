package testserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
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

	tb   testing.TB
	bin  string
	opts RedisOptions
	mu   sync.Mutex
	proc *process
}

// StartRedis starts a redis-server for tb and stops it when tb ends.
func StartRedis(tb testing.TB, opts RedisOptions) *Redis {
	tb.Helper()
	r := &Redis{tb: tb, bin: lookBinary(tb, "redis-server", "redis-server"), opts: opts, Dir: tb.TempDir()}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if r.Port, err = freePort(); err != nil {
			break
		}
		r.Addr = fmt.Sprintf("127.0.0.1:%d", r.Port)
		if err = r.start(); err == nil {
			tb.Cleanup(r.Stop)
			return r
		}
	}
	tb.Fatalf("testserver: start redis-server: %v\n%s", err, r.logTail())
	return nil
}

func (r *Redis) start() error {
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
		return err
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
		return err
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	return nil
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Client returns a new go-redis client for the server, closed with the test.
func (r *Redis) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	r.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// PID of the running server, 0 when stopped.
func (r *Redis) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil || r.proc.exited() {
		return 0
	}
	return r.proc.pid()
}

func (r *Redis) current() *process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// Stop shuts the server down gracefully (SIGTERM, SIGKILL after 5 s).
func (r *Redis) Stop() {
	if p := r.current(); p != nil {
		p.stop(5 * time.Second)
	}
}

// Kill crashes the server with SIGKILL: nothing is flushed beyond what the
// AOF policy already wrote.
func (r *Redis) Kill() {
	if p := r.current(); p != nil {
		p.kill()
	}
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, like a network partition or a stalled VM.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.tb.Helper()
	if p := r.current(); p != nil {
		if err := p.signal(sig); err != nil {
			r.tb.Fatalf("testserver: redis %v: %v", sig, err)
		}
	}
}

// Restart starts the server again on the same port and directory (after
// Stop or Kill), so an AOF server reloads its data.
func (r *Redis) Restart() {
	r.tb.Helper()
	r.Stop()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		// The port can linger briefly after a kill; retry the bind.
		if err = r.start(); err == nil {
			return
		}
	}
	r.tb.Fatalf("testserver: restart redis-server: %v\n%s", err, r.logTail())
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
