package zsync

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// ResyncOptions configure one account's full resync.
type ResyncOptions struct {
	MaxDeleteFraction float64 // refuse the run's deletions above this share of known users
	DryRun            bool    // read and decide, write nothing
	// Progress, if set, is called after every page with the users listed
	// so far and the total Zoom reports for the listings begun so far
	// (total_records of active, then inactive, then pending users; 0 when
	// the answers carry none).
	Progress func(account string, seen, total int)
	// BeforeDelete, if set, is asked before every deletion or
	// deactivation; an error stops them (a scheduler that lost its lease).
	BeforeDelete func(ctx context.Context) error
}

// ResyncReport is what a resync did and why.
type ResyncReport struct {
	PullSummary
	Known       int // live records before the run
	Candidates  int // known users missing from the complete pull
	Deactivated int // confirmed inactive by a direct read
	Deleted     int // confirmed gone by a direct read (Zoom's 404 code 1001)
	Skipped     int // candidates kept (newer news, alive, unconfirmed, refused): see SkipReasons
	// SkipReasons counts the skipped candidates by why they were kept
	// (the counts add up to Skipped).
	SkipReasons map[string]int
	Refused     string   // why deletions were refused, empty if they were not
	Errors      []string // non-fatal problems (a confirmation read that failed)
}

// Why a deletion candidate was kept (ResyncReport.SkipReasons keys; the
// unconfirmed ones are "unconfirmed: " and what the direct read answered).
const (
	SkipNewerNews = "newer news during the pull"
	SkipAlive     = "alive on the direct read"
	SkipRefused   = "deletions refused"
	SkipStopped   = "stopped before deleting"
)

// skip keeps n candidates for reason.
func (r *ResyncReport) skip(reason string, n int) {
	if n <= 0 {
		return
	}
	if r.SkipReasons == nil {
		r.SkipReasons = map[string]int{}
	}
	r.SkipReasons[reason] += n
	r.Skipped += n
}

// Summary is the one-line form printed at the end of a run.
func (r ResyncReport) Summary() string {
	s := fmt.Sprintf("account %s: seen %d, created %d, updated %d, deactivated %d, deleted %d, skipped %d",
		r.Account, r.Seen, r.Created, r.Updated, r.Deactivated, r.Deleted, r.Skipped)
	if len(r.SkipReasons) > 0 {
		reasons := make([]string, 0, len(r.SkipReasons))
		for why, n := range r.SkipReasons {
			reasons = append(reasons, fmt.Sprintf("%d %s", n, why))
		}
		slices.Sort(reasons)
		s += " (" + strings.Join(reasons, "; ") + ")"
	}
	s += fmt.Sprintf(", duration %v", r.Duration.Round(time.Millisecond))
	if r.Refused != "" {
		s += "; deletions refused: " + r.Refused
	}
	return s
}

// ErrDeletionsRefused marks a run whose deletions the guard refused.
var ErrDeletionsRefused = errs.E("zsync.Resync", errs.Permanent, fmt.Errorf("deletions refused"))

// Resync pulls the whole account and then deals with users that the pull
// no longer lists. A user is deleted or deactivated only when the pull was
// complete and not empty, nothing about the user arrived since the pull
// started, a direct read confirms it, and the run stays under
// MaxDeleteFraction; otherwise nothing is removed and the report says why.
func (p *Puller) Resync(ctx context.Context, opts ResyncOptions) (ResyncReport, error) {
	account := p.client.AccountID()
	rep := ResyncReport{}
	watermark := PullVersion(p.clock.Now()) // facts at or after this arrived during the pull

	seen := newKeySet(0)
	if n, err := p.store.countUsers(ctx, account); err == nil {
		seen = newKeySet(n) // one allocation, not a million-key map grown step by step
	}
	sum, err := p.pull(ctx, func(w Write) { seen.add(w.UserKey) }, opts)
	rep.PullSummary = sum
	if err != nil {
		rep.Refused = "the pull did not complete: " + err.Error()
		return rep, err
	}
	if seen.len() == 0 {
		rep.Refused = "the pull returned no users"
		return rep, fmt.Errorf("%w: %s", ErrDeletionsRefused, rep.Refused)
	}
	// Read what is known after the pull, so that news which arrived during
	// it (a version at or after the watermark) keeps its user.
	known, unseen, err := p.knownUsers(ctx, account, seen)
	if err != nil {
		return rep, err
	}
	rep.Known = known
	var candidates []string
	for key, newest := range unseen {
		if newest >= watermark {
			rep.skip(SkipNewerNews, 1) // a webhook (or another pull) spoke of it meanwhile
			continue
		}
		candidates = append(candidates, key)
	}
	rep.Candidates = len(candidates)
	if limit := opts.MaxDeleteFraction * float64(rep.Known); float64(len(candidates)) > limit {
		rep.Refused = fmt.Sprintf("%d of %d known users are missing from the pull, more than ZOOMSYNC_MAX_DELETE_FRACTION=%g allows",
			len(candidates), rep.Known, opts.MaxDeleteFraction)
		rep.skip(SkipRefused, len(candidates))
		return rep, fmt.Errorf("%w: %s", ErrDeletionsRefused, rep.Refused)
	}
	for i, key := range candidates {
		if opts.BeforeDelete != nil {
			if err := opts.BeforeDelete(ctx); err != nil {
				rep.Refused = "stopped before deleting: " + err.Error()
				rep.skip(SkipStopped, len(candidates)-i)
				return rep, err
			}
		}
		if err := p.confirm(ctx, account, key, opts.DryRun, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// confirm reads a candidate directly and deletes, deactivates or keeps it.
// Only Zoom's own "user does not exist" (HTTP 404 with code 1001) confirms
// a deletion: a 404 without Zoom's body (a proxy, a wrong base URL, an
// outage page) or any other failure keeps the user, and the report says why.
func (p *Puller) confirm(ctx context.Context, account, key string, dryRun bool, rep *ResyncReport) error {
	lookup := strings.TrimPrefix(key, "e:") // a pending user is known by email
	u, _, err := p.client.Users.Get(ctx, lookup)
	now := PullVersion(p.clock.Now())
	var status string
	switch {
	case zoomapi.IsUserNotFound(err):
		status = StatusDeleted
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.skip("unconfirmed: "+unconfirmedReason(err), 1)
		rep.Errors = append(rep.Errors, fmt.Sprintf("confirming %s: %v", key, err))
		return nil
	case u.ID != "" && u.ID != key && strings.HasPrefix(key, "e:"):
		status = StatusDeleted // the pending user now has an id: its id record replaces this one
	case u.Status == zoomapi.StatusInactive:
		status = "inactive"
	default:
		rep.skip(SkipAlive, 1) // alive after all: the next pull will list it
		return nil
	}
	if status == StatusDeleted {
		rep.Deleted++
	} else {
		rep.Deactivated++
	}
	if dryRun {
		return nil
	}
	_, err = p.store.Apply(ctx, Write{Account: account, UserKey: key, Fields: []FieldWrite{{Name: FieldUserStatus, Version: now, Value: status}}})
	if err == nil {
		p.logger.Info("user removed by resync after confirmation", slog.String("account_id", account),
			slog.String("user", key), slog.String("status", status))
	}
	return err
}

// unconfirmedReason names, in few words (a summary's reason key), what a
// confirming read answered instead of Zoom's "user does not exist".
func unconfirmedReason(err error) string {
	var ze *zoomapi.Error
	if !errors.As(err, &ze) {
		return errs.KindOf(err).String()
	}
	switch {
	case ze.HTTPStatus == 0:
		return "no answer from Zoom"
	case ze.HTTPStatus == 404 && ze.Code == 0:
		return "HTTP 404 without Zoom's body"
	case ze.Code != 0:
		return fmt.Sprintf("HTTP %d code %d", ze.HTTPStatus, ze.Code)
	}
	return fmt.Sprintf("HTTP %d", ze.HTTPStatus)
}

// knownUsers counts the account's live records and returns those the
// pull did not see, with the newest version of any of their facts. A user
// the pull saw was just written by it: it counts without a read, so a run
// reads only the few records the pull missed, not every record again.
func (p *Puller) knownUsers(ctx context.Context, account string, seen *keySet) (int, map[string]Version, error) {
	const op = "zsync.Puller.knownUsers"
	known := 0
	var missed []string
	for part := 0; part < p.store.keys.partitions; part++ {
		members, err := p.rdb.SMembers(ctx, p.store.keys.members(account, part)).Result()
		if err != nil {
			return 0, nil, unavailable(op, err)
		}
		for _, m := range members {
			if seen.has(m) {
				known++
			} else {
				missed = append(missed, m)
			}
		}
	}
	unseen := map[string]Version{}
	err := p.store.liveRecords(ctx, account, missed, []string{"vmax"}, func(key, _ string, v []string) {
		n, _ := strconv.ParseInt(v[0], 10, 64)
		unseen[key] = Version(n)
		known++
	})
	if err != nil {
		return 0, nil, err
	}
	return known, unseen, nil
}

// keySet is the set of user keys a pull listed, held as 64-bit hashes: a
// map without pointers, which the garbage collector does not scan (a set
// of a million strings made a 1,000,000-user resync spend a third of its
// CPU marking it again and again). Two keys sharing a hash (odds under 1
// in 10^7 for a million users, with a seed drawn per run) make the
// missing one count as listed: it is kept, never deleted by mistake.
type keySet struct {
	seed maphash.Seed
	m    map[uint64]struct{}
}

func newKeySet(n int) *keySet {
	return &keySet{seed: maphash.MakeSeed(), m: make(map[uint64]struct{}, n)}
}

func (s *keySet) add(k string)      { s.m[maphash.String(s.seed, k)] = struct{}{} }
func (s *keySet) has(k string) bool { _, ok := s.m[maphash.String(s.seed, k)]; return ok }
func (s *keySet) len() int          { return len(s.m) }

// countUsers returns how many records the account's partitions list
// (live, tombstoned or expired): a size hint.
func (s *Store) countUsers(ctx context.Context, account string) (int, error) {
	cmds := make([]*redis.IntCmd, s.keys.partitions)
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for part := range cmds {
			cmds[part] = pl.SCard(ctx, s.keys.members(account, part))
		}
		return nil
	})
	if err != nil {
		return 0, unavailable("zsync.Store.countUsers", err)
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}
