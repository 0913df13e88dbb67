package gaprepair

import (
	"context"
	"embed"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/luascript"
)

// Marks keep, per subscription in Redis, the last moment its events were
// all stored (alive) and the start of a gap whose repair has not
// completed (repair_from). Both share the subscription's hash tag. The
// next connection's gap starts at the earlier of the two, so a repair
// cut short by a crash or a handover is done again by whoever connects
// next.
type Marks struct {
	rdb redis.UniversalClient
}

// NewMarks returns the marks kept in rdb.
func NewMarks(rdb redis.UniversalClient) *Marks { return &Marks{rdb: rdb} }

func aliveKey(sub string) string  { return "zs:{ws:" + sub + "}:alive_ms" }
func repairKey(sub string) string { return "zs:{ws:" + sub + "}:repair_from_ms" }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0 // unknown: earlier than any time
	}
	return t.UnixMilli()
}

// MarkAlive records that every event up to at was stored.
func (m *Marks) MarkAlive(ctx context.Context, sub string, at time.Time) error {
	if err := m.rdb.Set(ctx, aliveKey(sub), ms(at), 0).Err(); err != nil {
		return errs.E("gaprepair.MarkAlive", errs.Unavailable, err)
	}
	return nil
}

// LastAlive is where the next gap starts: the earlier of the alive mark
// and an unrepaired gap's start; zero when unknown.
func (m *Marks) LastAlive(ctx context.Context, sub string) (time.Time, error) {
	vals, err := m.rdb.MGet(ctx, aliveKey(sub), repairKey(sub)).Result()
	if err != nil {
		return time.Time{}, errs.E("gaprepair.LastAlive", errs.Unavailable, err)
	}
	var out int64 = -1
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, errs.E("gaprepair.LastAlive", errs.Invalid, errors.New("unreadable mark"))
		}
		if out < 0 || n < out {
			out = n
		}
	}
	if out <= 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(out), nil
}

//go:embed *.lua
var scripts embed.FS

// The scripts' slots.
type (
	repairKeys struct {
		RepairFrom string `lua:"repairFrom"`
	}
	repairArgs struct {
		StartMS int64 `lua:"startMS"`
	}
)

var (
	repairFromScript = luascript.New[repairKeys, repairArgs](scripts, nil, "repair_from.lua")
	repairedScript   = luascript.New[repairKeys, repairArgs](scripts, nil, "repaired.lua")
)

// RepairFrom records that a gap starting at start awaits its repair.
func (m *Marks) RepairFrom(ctx context.Context, sub string, start time.Time) error {
	if err := repairFromScript.Run(ctx, m.rdb, repairKeys{repairKey(sub)}, repairArgs{ms(start)}).Err(); err != nil {
		return errs.E("gaprepair.RepairFrom", errs.Unavailable, err)
	}
	return nil
}

// Repaired records that the gaps from start on are repaired.
func (m *Marks) Repaired(ctx context.Context, sub string, start time.Time) error {
	if err := repairedScript.Run(ctx, m.rdb, repairKeys{repairKey(sub)}, repairArgs{ms(start)}).Err(); err != nil {
		return errs.E("gaprepair.Repaired", errs.Unavailable, err)
	}
	return nil
}
