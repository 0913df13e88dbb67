package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// Classify gives a failed Redis command its kind: the one place where
// zoomsync reads Redis's error text. op names what was being done.
//
//   - nil is nil; a cancelled or expired context is returned as it is
//     (the caller stopped, nothing failed);
//   - redis.Nil (no such key or field), NOSCRIPT (the node lacks a
//     script: load it and ask again), NOGROUP (the stream or its
//     consumer group is gone) and "no such key" are errs.NotFound;
//   - BUSYGROUP (the consumer group to create exists) is errs.Exists;
//   - anything else — the network, a failover, LOADING, OOM, a refused
//     permission, a script error — is errs.Unavailable: Redis cannot do
//     what was asked now.
//
// The cause stays in the chain (errors.Is(err, redis.Nil) still holds).
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errs.KindOf(err) != errs.Other {
		return err // classified already
	}
	return errs.E(op, kindOf(err), fmt.Errorf("redis: %w", err))
}

func kindOf(err error) errs.Kind {
	if errors.Is(err, redis.Nil) {
		return errs.NotFound
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return errs.Unavailable
	}
	msg := rerr.Error()
	switch {
	case strings.HasPrefix(msg, "NOSCRIPT"), strings.HasPrefix(msg, "NOGROUP"), strings.Contains(msg, "no such key"):
		return errs.NotFound
	case strings.HasPrefix(msg, "BUSYGROUP"):
		return errs.Exists
	}
	return errs.Unavailable
}
