package zsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/luascript"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// Change is a user's latest status change, as queued by the apply script.
type Change struct {
	Seq      int64
	Status   string
	Previous string
	At       time.Time // when the status began (the version time of the fact that caused it)
}

func parseChange(s string) (Change, bool) {
	parts := strings.SplitN(s, "|", 4)
	if len(parts) != 4 {
		return Change{}, false
	}
	seq, err1 := strconv.ParseInt(parts[0], 10, 64)
	at, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return Change{}, false
	}
	return Change{Seq: seq, Status: parts[1], Previous: parts[2], At: time.UnixMilli(at)}, true
}

// Pending is what a target still owes one user.
type Pending struct {
	User     string
	Change   Change
	Sent     int64     // last seq delivered to the target
	Failing  time.Time // first failure of the current change; zero if none
	Attempts int
	// Record holds the user's PushFields (and their versions) as Load read
	// them, in the same round trip; nil when the record is gone (an expired
	// tombstone: the change is all there is).
	Record *Record
}

// PushFields are the fields of a user's record a push carries (read with
// the pending change, not the whole record).
var PushFields = []string{FieldEmail, FieldDirID, FieldDirDN, FieldDirUID, FieldDirEmployeeNumber, FieldGroupIDs, FieldAgentStatusID}

// pushFieldsAsked is the HMGET of PushFields, their own versions, and
// their groups' versions (versiongroups.go: the groups of PushFields, in
// pushGroupAt order).
var pushFieldsAsked = func() []string {
	out := append([]string(nil), PushFields...)
	for _, f := range PushFields {
		out = append(out, "v:"+f)
	}
	for _, f := range PushFields {
		if g, ok := versionGroup[f]; ok && !slices.Contains(out, groupVersionField(g)) {
			out = append(out, groupVersionField(g))
		}
	}
	return out
}()

// pushGroupAt is where in pushFieldsAsked each PushField's group version
// is (-1: none).
var pushGroupAt = func() []int {
	at := make([]int, len(PushFields))
	for i, f := range PushFields {
		at[i] = -1
		if g, ok := versionGroup[f]; ok {
			at[i] = slices.Index(pushFieldsAsked, groupVersionField(g))
		}
	}
	return at
}()

// Outbox is the durable per-partition queue of status changes to push to
// each target (see the apply script): one latest change per user
// (coalesced), a due schedule per target, delivery and failure state per
// target and user. One sender owns a partition at a time (Lease).
type Outbox struct {
	rdb  redis.UniversalClient
	keys keyspace
}

// Outbox returns the outbox of the store's partitions.
func (s *Store) Outbox() *Outbox { return &Outbox{rdb: s.rdb, keys: s.keys} }

// Partitions is the number of partitions per account.
func (o *Outbox) Partitions() int { return o.keys.partitions }

// Wait blocks until a change is queued in the partition or timeout passes.
func (o *Outbox) Wait(ctx context.Context, account string, p int, timeout time.Duration) error {
	err := o.rdb.BLPop(ctx, timeout, o.keys.doorbell(account, p)).Err()
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	return unavailable("zsync.Outbox.Wait", err)
}

// Due lists up to limit users whose delivery to target is due by now.
func (o *Outbox) Due(ctx context.Context, account string, p int, target string, now time.Time, limit int) ([]string, error) {
	users, err := o.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: o.keys.due(account, p, target), ByScore: true,
		Start: "-inf", Stop: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, unavailable("zsync.Outbox.Due", err)
	}
	return users, nil
}

// Load reads what target owes each user (a user with nothing owed is
// left out).
func (o *Outbox) Load(ctx context.Context, account string, p int, target string, users []string) ([]Pending, error) {
	if len(users) == 0 {
		return nil, nil
	}
	var outs, sents, fails *redis.SliceCmd
	recs := make([]*redis.SliceCmd, len(users))
	_, err := o.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		outs = pl.HMGet(ctx, o.keys.outbox(account, p), users...)
		sents = pl.HMGet(ctx, o.keys.sent(account, p, target), users...)
		fails = pl.HMGet(ctx, o.keys.failing(account, p, target), users...)
		for i, u := range users {
			recs[i] = pl.HMGet(ctx, o.keys.user(account, u), pushFieldsAsked...)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("zsync.Outbox.Load", err)
	}
	var out []Pending
	for i, u := range users {
		s, _ := outs.Val()[i].(string)
		c, ok := parseChange(s)
		if !ok {
			continue
		}
		pend := Pending{User: u, Change: c, Record: pushRecord(account, u, recs[i].Val())}
		if v, _ := sents.Val()[i].(string); v != "" {
			pend.Sent, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, _ := fails.Val()[i].(string); v != "" {
			first, n, _ := strings.Cut(v, "|")
			ms, _ := strconv.ParseInt(first, 10, 64)
			pend.Failing = time.UnixMilli(ms)
			pend.Attempts, _ = strconv.Atoi(n)
		}
		out = append(out, pend)
	}
	return out, nil
}

// pushRecord is the Record of a PushFields read (nil: no such record).
func pushRecord(account, user string, vals []any) *Record {
	r := &Record{Account: account, Key: user, Fields: map[string]string{}, Versions: map[string]Version{}}
	found := false
	for i, f := range PushFields {
		if v, ok := vals[i].(string); ok {
			r.Fields[f] = v
			found = true
		}
		v, ok := vals[len(PushFields)+i].(string)
		if !ok && pushGroupAt[i] >= 0 && vals[i] != nil {
			v, ok = vals[pushGroupAt[i]].(string) // a present field without a version of its own has its group's
		}
		if ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.Versions[f] = Version(n)
			found = true
		}
	}
	if !found {
		return nil
	}
	return r
}

// settleScript records that changes were delivered (or skipped, or
// dead-lettered) and takes each user off the schedule unless a newer
// change arrived meanwhile (outbox_settle.lua).
var settleScript = luascript.New[settleKeys, settleArgs](scripts, nil, "outbox_settle.lua")

// Settlement is one change a target has (or needs) nothing more for:
// delivered, or skipped by the target's map or filters. With Repeat set,
// the user is scheduled again then unless a newer change is already due
// (a target's keep-alive re-push of the current status).
type Settlement struct {
	User   string
	Seq    int64
	Repeat time.Time
	// NotFailing says the user's failure state is known to be clear (Load
	// read none): nothing to remove. The zero value removes it.
	NotFailing bool
}

// Settle records that target has (or needs) nothing more for user up to
// seq: delivered, or skipped by the target's map or filters.
func (o *Outbox) Settle(ctx context.Context, account string, p int, target, user string, seq int64) error {
	return o.SettleAll(ctx, account, p, target, []Settlement{{User: user, Seq: seq}})
}

// SettleAndRepeat settles like Settle and, unless a newer change is
// already due, schedules the user again at at (a target's keep-alive
// re-push of the current status).
func (o *Outbox) SettleAndRepeat(ctx context.Context, account string, p int, target, user string, seq int64, at time.Time) error {
	return o.SettleAll(ctx, account, p, target, []Settlement{{User: user, Seq: seq, Repeat: at}})
}

// settleChunk bounds the settlements of one script call (the script
// holds Redis for its whole run).
const settleChunk = 256

// SettleAll settles several users' changes for target in one script call
// (per settleChunk), as Settle and SettleAndRepeat do one by one.
func (o *Outbox) SettleAll(ctx context.Context, account string, p int, target string, ss []Settlement) error {
	k := o.keys
	keys := settleKeys{Outbox: k.outbox(account, p), Sent: k.sent(account, p, target), Failing: k.failing(account, p, target), Due: k.due(account, p, target)}
	for chunk := range slices.Chunk(ss, settleChunk) {
		args := settleArgs{Settles: make([]any, 0, 4*len(chunk))}
		for _, st := range chunk {
			var again int64
			if !st.Repeat.IsZero() {
				again = st.Repeat.UnixMilli()
			}
			failing := 1
			if st.NotFailing {
				failing = 0
			}
			args.Settles = append(args.Settles, st.User, st.Seq, again, failing)
		}
		if err := settleScript.Run(ctx, o.rdb, keys, args).Err(); err != nil {
			return unavailable("zsync.Outbox.Settle", err)
		}
	}
	return nil
}

// Retry schedules another attempt at next and records the failure.
func (o *Outbox) Retry(ctx context.Context, account string, p int, target, user string, next, firstFailure time.Time, attempts int) error {
	k := o.keys
	_, err := o.rdb.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.ZAddXX(ctx, k.due(account, p, target), redis.Z{Score: float64(next.UnixMilli()), Member: user})
		pl.HSet(ctx, k.failing(account, p, target), user, fmt.Sprintf("%d|%d", firstFailure.UnixMilli(), attempts))
		return nil
	})
	if err != nil {
		return unavailable("zsync.Outbox.Retry", err)
	}
	return nil
}

// Dead gives up on a change for target: it is recorded in the target's
// dead letters with the reason and settled.
func (o *Outbox) Dead(ctx context.Context, account string, p int, target string, pend Pending, reason string) error {
	err := o.rdb.XAdd(ctx, &redis.XAddArgs{Stream: o.keys.deadOutbox(account, p, target), MaxLen: 10000, Approx: true,
		Values: map[string]any{"user": pend.User, "seq": pend.Change.Seq, "status": pend.Change.Status,
			"at": pend.Change.At.UnixMilli(), "attempts": pend.Attempts, "reason": reason}}).Err()
	if err != nil {
		return unavailable("zsync.Outbox.Dead", err)
	}
	return o.Settle(ctx, account, p, target, pend.User, pend.Change.Seq)
}

// TargetStats describe one target's outbox across an account.
type TargetStats struct {
	Pending int64
	Oldest  time.Time // the oldest undelivered change; zero if none
	Dead    int64
}

// Stats reads a target's pending count, oldest pending change and dead
// letters over an account's partitions.
func (o *Outbox) Stats(ctx context.Context, account, target string) (TargetStats, error) {
	var st TargetStats
	n := o.keys.partitions
	cards, firsts, deads := make([]*redis.IntCmd, n), make([]*redis.StringSliceCmd, n), make([]*redis.IntCmd, n)
	_, err := o.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for p := 0; p < n; p++ {
			cards[p] = pl.ZCard(ctx, o.keys.due(account, p, target))
			firsts[p] = pl.ZRange(ctx, o.keys.due(account, p, target), 0, 0)
			deads[p] = pl.XLen(ctx, o.keys.deadOutbox(account, p, target))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return st, unavailable("zsync.Outbox.Stats", err)
	}
	for p := 0; p < n; p++ {
		st.Pending += cards[p].Val()
		st.Dead += deads[p].Val()
		if u := firsts[p].Val(); len(u) == 1 {
			pend, err := o.Load(ctx, account, p, target, u)
			if err == nil && len(pend) == 1 && (st.Oldest.IsZero() || pend[0].Change.At.Before(st.Oldest)) {
				st.Oldest = pend[0].Change.At
			}
		}
	}
	return st, nil
}

// Lease is the partition's sending lease (one sender per partition),
// acting as opts.Owner.
func (o *Outbox) Lease(account string, p int, opts coord.LeaseOptions) *coord.Lease {
	return coord.NewLeaseAt(o.rdb, o.keys.outboxLease(account, p), opts)
}

// Stale lists up to limit users of a partition whose presence was last
// confirmed before cutoff (never-confirmed users first).
func (s *Store) Stale(ctx context.Context, account string, p int, cutoff time.Time, limit int) ([]string, error) {
	users, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.keys.freshness(account, p), ByScore: true,
		Start: "-inf", Stop: "(" + strconv.FormatInt(cutoff.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, unavailable("zsync.Store.Stale", err)
	}
	return users, nil
}

// Touch marks a user's presence as checked at t without a change (a
// re-read that failed for good, say), so the sweeper moves on.
func (s *Store) Touch(ctx context.Context, account, userKey string, t time.Time) error {
	err := s.rdb.ZAddXX(ctx, s.keys.freshness(account, s.keys.partition(userKey)), redis.Z{Score: float64(t.UnixMilli()), Member: userKey}).Err()
	if err != nil {
		return unavailable("zsync.Store.Touch", err)
	}
	return nil
}

// LongCall is a call still open that began before a cutoff.
type LongCall struct {
	User   string
	CallID string
	Began  time.Time
}

// LongCalls lists the open calls that began before cutoff, of up to limit
// users of a partition (those whose oldest open call began first).
func (s *Store) LongCalls(ctx context.Context, account string, p int, cutoff time.Time, limit int) ([]LongCall, error) {
	users, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.keys.openCalls(account, p), ByScore: true,
		Start: "-inf", Stop: "(" + strconv.FormatInt(cutoff.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, unavailable("zsync.Store.LongCalls", err)
	}
	if len(users) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(users))
	_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, u := range users {
			cmds[i] = pl.HMGet(ctx, s.keys.user(account, u), FieldCalls, FieldCallState, FieldCallID, "v:"+FieldCallState)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("zsync.Store.LongCalls", err)
	}
	var out []LongCall
	for i, c := range cmds {
		v := c.Val()
		str := func(k int) string { s, _ := v[k].(string); return s }
		_, present := v[0].(string)
		lv, _ := strconv.ParseInt(str(3), 10, 64)
		calls, _ := parseCalls(str(0), present, str(1), str(2), Version(lv))
		for _, call := range calls {
			if call.Open && call.Version.Time().Before(cutoff) {
				out = append(out, LongCall{User: users[i], CallID: call.ID, Began: call.Version.Time()})
			}
		}
	}
	return out, nil
}

// NextDue is when the partition's next delivery to target is due (zero:
// nothing is scheduled).
func (o *Outbox) NextDue(ctx context.Context, account string, p int, target string) (time.Time, error) {
	z, err := o.rdb.ZRangeWithScores(ctx, o.keys.due(account, p, target), 0, 0).Result()
	if err != nil {
		return time.Time{}, unavailable("zsync.Outbox.NextDue", err)
	}
	if len(z) == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(int64(z[0].Score)), nil
}

// Defer moves a user's delivery to target to at, without counting a
// failure (flap damping).
func (o *Outbox) Defer(ctx context.Context, account string, p int, target, user string, at time.Time) error {
	err := o.rdb.ZAddXX(ctx, o.keys.due(account, p, target), redis.Z{Score: float64(at.UnixMilli()), Member: user}).Err()
	if err != nil {
		return unavailable("zsync.Outbox.Defer", err)
	}
	return nil
}

// PresenceChannel is where the apply script announces every user whose
// record a write changed ("account\tuser"), status or not.
const PresenceChannel = redisconn.PresenceChannel
