package app

import (
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/presence/target"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// newStore is the store every command uses: status changes are queued for
// the configured targets in the same step that makes them, and a change
// of a user's directory data for the targets that receive it.
func newStore(rdb redis.UniversalClient, cfg *config.Config) *zsync.Store {
	var withDir []string
	for _, c := range cfg.Targets.Configs {
		if target.ReceivesDirectory(c.Type) {
			withDir = append(withDir, c.Name)
		}
	}
	return zsync.NewStore(rdb, partitions(cfg), cfg.Resync.TombstoneTTL).WithPresence(cfg.Targets.Names(), cfg.Presence.History).
		WithDirectoryTargets(withDir)
}

// partitions is how many partitions each account's users spread over. A
// real Redis always gets the default (the keys depend on it, so it must
// never change for a given Redis). The embedded one lives and dies with
// the process, and being single-threaded, every blocked reader (an inbox
// consumer and an outbox sender per partition) is woken by every command:
// fewer partitions keep the demo quick.
func partitions(cfg *config.Config) int {
	if cfg.Redis.Embedded() {
		return 2
	}
	return zsync.DefaultPartitions
}
