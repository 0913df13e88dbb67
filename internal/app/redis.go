package app

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// openRedis connects as configured; with nothing configured it starts an
// in-process miniredis and says loudly that state will not survive.
// blocking is how many connections long-lived blocking reads (inbox
// consumers) hold; the pool keeps go-redis's default on top of them, so
// that appends and scripts never wait behind a blocked reader.
//
// Every command (serve, resync, map, purge) opens Redis here, so all of
// them check the same way before doing anything: credentials, ACL
// permissions or certificates Redis refuses end the command with one line
// naming the variable to fix (a *redisconn.Error of kind Invalid: exit 2).
// A Redis that does not answer yet is only a warning: serve waits for it
// (not ready meanwhile), and a one-shot command fails on its first call.
func openRedis(ctx context.Context, cfg config.Redis, logger *slog.Logger, blocking int) (redis.UniversalClient, func(), error) {
	poolSize := 10*runtime.GOMAXPROCS(0) + blocking
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	routeRedisLogs(logger)
	if cfg.Embedded() {
		m, err := miniredis.Run()
		if err != nil {
			return nil, nil, fmt.Errorf("starting embedded Redis: %w", err)
		}
		logger.Warn("ZOOMSYNC_REDIS_URL is not set: using an embedded in-process Redis. STATE IS NOT DURABLE: " +
			"acknowledged webhooks and all records are lost when this process stops. Set ZOOMSYNC_REDIS_URL for production.")
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), PoolSize: poolSize})
		return rdb, func() { rdb.Close(); m.Close() }, nil
	}
	if cfg.InsecureTLS() {
		logger.Warn("Redis TLS certificates are NOT VERIFIED (ZOOMSYNC_REDIS_TLS_INSECURE_SKIP_VERIFY=true, or skip_verify=true " +
			"in ZOOMSYNC_REDIS_URL): anyone on the network path can pose as Redis and read or change zoomsync's state. " +
			"Set ZOOMSYNC_REDIS_TLS_CA_FILE to the CA that signed the server's certificate instead.")
	}
	rdb, err := redisconn.Open(cfg.Settings, redisconn.Options{PoolSize: poolSize})
	if err != nil {
		return nil, nil, &redisconn.Error{Kind: errs.Invalid, Msg: err.Error(), Err: err}
	}
	// The check reports in one line; go-redis's own lines about the same
	// failure (dial retries, each Sentinel tried) would only repeat it.
	restore := muteRedisLogs()
	err = redisconn.Check(ctx, rdb, cfg.Settings)
	restore()
	if err != nil {
		if errs.KindOf(err) == errs.Invalid || ctx.Err() != nil {
			rdb.Close()
			return nil, nil, err
		}
		logger.Warn("Redis is not answering yet; carrying on (not ready until it answers; its credentials, permissions "+
			"and certificates were not checked)", slog.String("error", err.Error()))
	}
	return rdb, func() { rdb.Close() }, nil
}

// redisLogs is where go-redis's own messages go: go-redis has one logger
// per process, so it is set once and follows the latest openRedis.
var redisLogs struct {
	once sync.Once
	to   atomic.Pointer[slog.Logger]
}

func routeRedisLogs(l *slog.Logger) {
	redisLogs.to.Store(l)
	redisLogs.once.Do(func() { redis.SetLogger(redisLogger{}) })
}

// muteRedisLogs drops go-redis's messages until the returned func runs.
func muteRedisLogs() (restore func()) {
	mute := discard()
	prev := redisLogs.to.Swap(mute)
	return func() { redisLogs.to.CompareAndSwap(mute, prev) }
}

// redisLogger sends go-redis's own messages (pool dial failures,
// reconnects, Sentinel switches) through slog as warnings, instead of its
// default plain-text logger on stderr.
type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if l := redisLogs.to.Load(); l != nil {
		l.WarnContext(ctx, "redis client", slog.String("message", fmt.Sprintf(format, v...)))
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
