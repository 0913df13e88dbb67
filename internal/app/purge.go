package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/sync/runs"
)

// PurgeOptions are the purge command's flags.
type PurgeOptions struct {
	Account string
	DryRun  bool // say what would be removed, remove nothing
	// Confirm, if set, is asked once what would be removed has been
	// printed; false stops the purge (ErrPurgeCancelled) with nothing
	// removed.
	Confirm func() (bool, error)
	Stdout  io.Writer
	Logger  *slog.Logger
}

// ErrPurgeCancelled: the confirmation was refused; nothing was removed.
var ErrPurgeCancelled = errors.New("zoomsync purge: not confirmed; nothing was removed")

// Purge runs `zoomsync purge --account ID`: every key of the account and
// its results in the resync run records (which name it), or with DryRun
// what that would be. An account of which Redis holds nothing is a
// ConfigError (a mistyped id purges nothing, loudly).
func Purge(ctx context.Context, cfg *config.Config, opts PurgeOptions) error {
	if cfg.Redis.Embedded() {
		return configErrorf("zoomsync purge: %w", errEmbeddedRedis)
	}
	rdb, closeRedis, err := openRedis(ctx, cfg.Redis, opts.Logger, 0)
	if err != nil {
		return err
	}
	defer closeRedis()
	account, out := opts.Account, opts.Stdout
	keys, err := zsync.Purge(ctx, rdb, account, zsync.PurgeOptions{DryRun: true})
	if err != nil {
		return fmt.Errorf("zoomsync purge: %w", err)
	}
	runs, err := purgeRuns(ctx, rdb, account, true)
	if err != nil {
		return fmt.Errorf("zoomsync purge: %w", err)
	}
	configured := slices.ContainsFunc(cfg.Zoom.Accounts, func(a config.Account) bool { return a.ID == account })
	if keys.Total() == 0 && runs == 0 {
		ids := make([]string, len(cfg.Zoom.Accounts))
		for i, a := range cfg.Zoom.Accounts {
			ids[i] = a.ID
		}
		known := "none configured here"
		if len(ids) > 0 {
			known = "configured here: " + strings.Join(ids, ", ")
		}
		return configErrorf("zoomsync purge: Redis holds nothing of account %q (%s); nothing was removed", account, known)
	}
	fmt.Fprintf(out, "account %s: %s, and its results in %d resync run record(s)\n", account, describePurge(keys), runs)
	if configured {
		fmt.Fprintf(out, "warning: account %s is still configured: a running serve pulls it again and takes its webhooks; remove it from ZOOMSYNC_ACCOUNTS_FILE (or ZOOM_ACCOUNT_ID) and restart serve first\n", account)
	}
	if opts.DryRun {
		fmt.Fprintln(out, "dry run: nothing was removed")
		return nil
	}
	if opts.Confirm != nil {
		ok, err := opts.Confirm()
		if err != nil {
			return fmt.Errorf("zoomsync purge: %w", err)
		}
		if !ok {
			return ErrPurgeCancelled
		}
	}
	rep, err := zsync.Purge(ctx, rdb, account, zsync.PurgeOptions{})
	if err != nil {
		return fmt.Errorf("zoomsync purge: %w (removed %d keys before the error)", err, rep.Total())
	}
	if runs, err = purgeRuns(ctx, rdb, account, false); err != nil {
		return fmt.Errorf("zoomsync purge: removed the account's keys, but not its results in the resync run records: %w", err)
	}
	fmt.Fprintf(out, "purged account %s: %s removed; its results removed from %d resync run record(s)\n", account, describePurge(rep), runs)
	return nil
}

func describePurge(r zsync.PurgeReport) string {
	return fmt.Sprintf("%d keys (%d user records, %d index keys, %d streams, %d presence history/outbox keys, %d other)",
		r.Total(), r.Users, r.Indices, r.Streams, r.Presence, r.Other)
}

// purgeRuns removes an account's results from the resync run records
// (GET /v1/resync/{run_id}), and a record left with no account at all; it
// returns how many records named the account. A record keeps its expiry,
// and whatever else it holds.
func purgeRuns(ctx context.Context, rdb redis.UniversalClient, account string, dryRun bool) (int, error) {
	keys, err := scanKeys(ctx, rdb, runs.Key("*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		b, err := rdb.Get(ctx, k).Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired meanwhile
		}
		if err != nil {
			return n, err
		}
		var rec map[string]json.RawMessage
		var results []json.RawMessage
		if json.Unmarshal(b, &rec) != nil || json.Unmarshal(rec["accounts"], &results) != nil {
			continue
		}
		kept := slices.DeleteFunc(slices.Clone(results), func(r json.RawMessage) bool {
			var res runs.AccountResult
			return json.Unmarshal(r, &res) == nil && res.AccountID == account
		})
		if len(kept) == len(results) {
			continue
		}
		n++
		if dryRun {
			continue
		}
		if len(kept) == 0 {
			err = rdb.Del(ctx, k).Err()
		} else {
			rec["accounts"], _ = json.Marshal(kept)
			var msg string
			if json.Unmarshal(rec["error"], &msg) == nil && msg != "" {
				rec["error"], _ = json.Marshal(dropLinesNaming(msg, account))
			}
			b, _ = json.Marshal(rec)
			err = rdb.SetArgs(ctx, k, b, redis.SetArgs{KeepTTL: true}).Err()
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// scanKeys lists the keys matching pattern, on every master of a Cluster.
func scanKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			keys = append(keys, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, rdb)
	}
	return keys, err
}

// dropLinesNaming removes the lines of a run's error that name the
// account (a run's error joins its accounts' errors, one per line).
func dropLinesNaming(s, account string) string {
	lines := strings.Split(s, "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, account) })
	return strings.Join(lines, "\n")
}
