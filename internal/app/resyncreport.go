package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapper"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// ResyncFailed is a resync command whose run went through but failed in
// parts (an account's pull, its refused deletions, the directory): one
// line per part, each saying what to do next.
type ResyncFailed struct{ Parts []string }

func (e *ResyncFailed) Error() string {
	return "zoomsync resync failed:\n  " + strings.Join(e.Parts, "\n  ")
}

// resyncFailure says what went wrong with an account's resync and, for
// refused deletions, how far over the limit it was and how to go on.
func resyncFailure(rep zsync.ResyncReport, err error, maxFraction float64, oneAccount bool) string {
	if !errors.Is(err, zsync.ErrDeletionsRefused) {
		return fmt.Sprintf("account %s: %s", rep.Account, plainError(err))
	}
	if rep.Known == 0 || rep.Candidates == 0 {
		return fmt.Sprintf("account %s: deletions refused: %s; nothing was deleted or deactivated. "+
			"Check that the app's account id is this one and that it has the user:read:admin scope (Zoom listed nobody)", rep.Account, rep.Refused)
	}
	share := float64(rep.Candidates) / float64(rep.Known)
	enough := math.Ceil(share*100) / 100 // the smallest limit in hundredths that lets them through
	allowed := int(math.Floor(maxFraction * float64(rep.Known)))
	again := "zoomsync resync --account " + rep.Account
	if !oneAccount {
		again += " (or every account: zoomsync resync)"
	}
	return fmt.Sprintf("account %s: deletions refused: %d of %d known users (%.1f%%) are missing from Zoom's listing, "+
		"and ZOOMSYNC_MAX_DELETE_FRACTION=%g allows %d; nothing was deleted or deactivated. "+
		"To see what would be removed, without writing: ZOOMSYNC_MAX_DELETE_FRACTION=%.2f zoomsync resync --account %s --dry-run. "+
		"If those users did leave Zoom, run with that limit: ZOOMSYNC_MAX_DELETE_FRACTION=%.2f %s",
		rep.Account, rep.Candidates, rep.Known, 100*share, maxFraction, allowed, enough, rep.Account, enough, again)
}

// plainError is an error's message without the operation and kind the
// errs package puts in front (for people, not logs).
func plainError(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Err != nil && err.Error() == e.Error() {
		return e.Err.Error()
	}
	return err.Error()
}

// accountList names the configured accounts for a message.
func accountList(cfg *config.Config) string {
	if len(cfg.Zoom.Accounts) == 0 {
		return "none is configured"
	}
	ids := make([]string, len(cfg.Zoom.Accounts))
	for i, a := range cfg.Zoom.Accounts {
		ids[i] = a.ID
	}
	return "configured: " + strings.Join(ids, ", ")
}

// resyncTotals is the summary line that ends a resync command (SPEC §2):
// users seen, created, updated, deactivated, deleted, unmatched and the
// duration, over the run's accounts. Unmatched are the accounts' Zoom
// users that no directory entry matched: after this run's mapping when it
// refreshed the links, else as the last published mapping has them.
func resyncTotals(ctx context.Context, rdb redis.UniversalClient, cfg *config.Config, reports []zsync.ResyncReport,
	mapped *mapper.Summary, dryRun bool, took time.Duration) string {
	var seen, created, updated, deactivated, deleted int
	accounts := map[string]bool{}
	for _, r := range reports {
		seen, created, updated, deactivated, deleted = seen+r.Seen, created+r.Created, updated+r.Updated, deactivated+r.Deactivated, deleted+r.Deleted
		accounts[r.Account] = true
	}
	var unmatched string
	switch {
	case !cfg.LDAP.Enabled():
		unmatched = "unmatched - (no directory configured)"
	case mapped != nil:
		unmatched = fmt.Sprintf("unmatched %d", countUnmatched(mapped.Result.UnmatchedUsers, accounts))
	default:
		n, ok := publishedUnmatched(ctx, rdb, accounts)
		if ok {
			unmatched = fmt.Sprintf("unmatched %d (as of the last mapping)", n)
		} else {
			unmatched = "unmatched - (no mapping published yet)"
		}
	}
	prefix := "resync"
	if dryRun {
		prefix = "dry run: resync"
	}
	return fmt.Sprintf("%s of %d account(s): seen %d, created %d, updated %d, deactivated %d, deleted %d, %s, duration %v",
		prefix, len(reports), seen, created, updated, deactivated, deleted, unmatched, took.Round(time.Millisecond))
}

func countUnmatched(users []mapping.Ref, accounts map[string]bool) int {
	n := 0
	for _, u := range users {
		if accounts[u.Account] {
			n++
		}
	}
	return n
}

// publishedUnmatched counts the accounts' users in the published mapping
// report's unmatched_users; false when no mapping was published.
func publishedUnmatched(ctx context.Context, rdb redis.UniversalClient, accounts map[string]bool) (int, bool) {
	done, err := mapstore.Complete(ctx, rdb)
	if err != nil || !done {
		return 0, false
	}
	items, err := rdb.LRange(ctx, mapstore.ReportKey("unmatched_users"), 0, -1).Result()
	if err != nil {
		return 0, false
	}
	var users []mapping.Ref
	for _, it := range items {
		var u mapping.Ref
		if json.Unmarshal([]byte(it), &u) == nil {
			users = append(users, u)
		}
	}
	return countUnmatched(users, accounts), true
}
