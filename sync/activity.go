package zsync

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Active is a user whose presence is worth re-reading, with when it was
// last confirmed (zero: never).
type Active struct {
	User        string
	ConfirmedAt time.Time
}

// ActiveByActivity lists the account's active users whose presence was
// last confirmed before cutoff, the most recently confirmed first: after
// a gap in the events, those are the people most likely to have changed
// since (someone active a minute ago more than someone idle for a week).
// It reads the partitions' freshness indices (the presence sweeper's),
// at most limit users (0: all). Pending users without a Zoom id are left
// out: nothing can be read for them.
func (s *Store) ActiveByActivity(ctx context.Context, account string, cutoff time.Time, limit int) ([]Active, error) {
	cmds := make([]*redis.ZSliceCmd, s.keys.partitions)
	stop := "(" + strconv.FormatInt(cutoff.UnixMilli(), 10)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for part := range cmds {
			args := redis.ZRangeArgs{Key: s.keys.freshness(account, part), ByScore: true, Rev: true, Start: stop, Stop: "-inf"}
			if limit > 0 {
				args.Count = int64(limit)
			}
			cmds[part] = p.ZRangeArgsWithScores(ctx, args)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("zsync.Store.ActiveByActivity", err)
	}
	var out []Active
	for _, c := range cmds {
		for _, z := range c.Val() {
			u, _ := z.Member.(string)
			if u == "" || len(u) > 2 && u[:2] == "e:" {
				continue
			}
			a := Active{User: u}
			if z.Score > 0 {
				a.ConfirmedAt = time.UnixMilli(int64(z.Score))
			}
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b Active) int { return b.ConfirmedAt.Compare(a.ConfirmedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
