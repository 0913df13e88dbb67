package zsync

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// PurgeReport counts what Purge removed, by kind of key.
type PurgeReport struct {
	Users, Indices, Streams, Presence, Other int
}

// Total is the number of keys removed.
func (r PurgeReport) Total() int { return r.Users + r.Indices + r.Streams + r.Presence + r.Other }

// PurgeOptions shape a purge.
type PurgeOptions struct {
	DryRun bool // count what would be removed, remove nothing
}

// Purge removes every key of an account (deauthorization, data
// compliance), or with DryRun counts them. On a Cluster every master is
// scanned.
func Purge(ctx context.Context, rdb redis.UniversalClient, account string, opts PurgeOptions) (PurgeReport, error) {
	var rep PurgeReport
	var mu sync.Mutex // ForEachMaster runs scan on every master at once
	patterns := []string{"zs:{a:" + account + ":*", "zs:{a:" + account + "}*"}
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var local PurgeReport
		defer func() {
			mu.Lock()
			rep.Users += local.Users
			rep.Indices += local.Indices
			rep.Streams += local.Streams
			rep.Presence += local.Presence
			rep.Other += local.Other
			mu.Unlock()
		}()
		for _, pat := range patterns {
			it := c.Scan(ctx, 0, pat, 1000).Iterator()
			var batch []string
			for it.Next(ctx) {
				batch = append(batch, it.Val())
			}
			if err := it.Err(); err != nil {
				return err
			}
			for _, k := range batch {
				// UNLINK one key at a time: keys of different slots may not
				// share a command on a Cluster.
				var n int64 = 1
				var err error
				if !opts.DryRun {
					n, err = c.Unlink(ctx, k).Result()
				}
				if err != nil {
					return err
				}
				if n == 0 {
					continue
				}
				switch {
				case strings.Contains(k, ":u:"):
					local.Users++
				case strings.Contains(k, ":ix:") || strings.HasSuffix(k, ":members") || strings.HasSuffix(k, ":mapin"):
					local.Indices++
				case strings.HasSuffix(k, ":inbox") || strings.HasSuffix(k, ":dead"):
					local.Streams++
				case strings.Contains(k, ":h:") || strings.Contains(k, ":hl:") || isPresenceKey(k):
					local.Presence++ // history, outbox, freshness
				default:
					local.Other++
				}
			}
		}
		return nil
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, rdb)
	}
	if err != nil {
		return rep, unavailable("zsync.Purge", err)
	}
	return rep, nil
}

func isPresenceKey(k string) bool {
	for _, s := range []string{":out", ":due:", ":sent:", ":fail:", ":bell", ":fresh", ":calls"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
