package app

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
)

// openRedis connects as configured; with nothing configured it starts an
// in-process miniredis and says loudly that state will not survive.
// blocking is how many connections long-lived blocking reads (inbox
// consumers) hold; the pool keeps go-redis's default on top of them, so
// that appends and scripts never wait behind a blocked reader.
func openRedis(cfg config.Redis, logger *slog.Logger, blocking int) (redis.UniversalClient, func(), error) {
	poolSize := 10*runtime.GOMAXPROCS(0) + blocking
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	redis.SetLogger(redisLogger{logger}) // process-wide in go-redis
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
	if !cfg.URL.IsZero() {
		opts, err := redis.ParseURL(cfg.URL.Reveal())
		if err != nil {
			return nil, nil, fmt.Errorf("ZOOMSYNC_REDIS_URL: %w", err)
		}
		opts.PoolSize = poolSize
		rdb := redis.NewClient(opts)
		return rdb, func() { rdb.Close() }, nil
	}
	uo := &redis.UniversalOptions{Addrs: cfg.Addrs, MasterName: cfg.MasterName, PoolSize: poolSize}
	if cfg.MasterName == "" {
		uo.IsClusterMode = true
	}
	rdb := redis.NewUniversalClient(uo)
	return rdb, func() { rdb.Close() }, nil
}

// redisLogger sends go-redis's own messages (pool dial failures,
// reconnects, Sentinel switches) through slog as warnings, instead of its
// default plain-text logger on stderr.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", slog.String("message", fmt.Sprintf(format, v...)))
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
