package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/sync/runs"
)

func TestResyncAndPurgeCommands(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 200)
	cfg := loadConfig(t, serveEnv(fake, r.URL(), "127.0.0.1:0"))
	ctx := context.Background()
	run := func(dry bool) (string, error) {
		var out bytes.Buffer
		err := Resync(ctx, cfg, ResyncOptions{DryRun: dry, Stdout: &out})
		return out.String(), err
	}
	out, err := run(false)
	if err != nil || !strings.Contains(out, "account acct-1: seen 200, created 200, updated 0, deactivated 0, deleted 0") ||
		!strings.Contains(out, "resync of 1 account(s): seen 200, created 200, updated 0, deactivated 0, deleted 0, unmatched - (no directory configured), duration ") {
		t.Fatalf("first resync: %v\n%s", err, out)
	}
	users := acct.Users()
	_ = acct.DeleteUser(users[3].ID)
	if out, err = run(true); err != nil || !strings.Contains(out, "dry run: account acct-1: seen 199") || !strings.Contains(out, "deleted 1") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if out, err = run(false); err != nil || !strings.Contains(out, "deleted 1,") {
		t.Fatalf("one deletion: %v\n%s", err, out)
	}
	for _, u := range users[10:80] {
		_ = acct.DeleteUser(u.ID)
	}
	out, err = run(false)
	if err == nil || !strings.Contains(out, "deletions refused: 70 of 199 known users") {
		t.Fatalf("mass deletion must fail the run: %v\n%s", err, out)
	}
	// The failure says how far over the limit the run was, that nothing
	// was removed, and the commands that go on from there.
	var failed *ResyncFailed
	if !errors.As(err, &failed) || len(failed.Parts) != 1 {
		t.Fatalf("want one failed part, got %v", err)
	}
	for _, want := range []string{"account acct-1: deletions refused: 70 of 199 known users (35.2%) are missing from Zoom's listing",
		"ZOOMSYNC_MAX_DELETE_FRACTION=0.05 allows 9; nothing was deleted or deactivated",
		"ZOOMSYNC_MAX_DELETE_FRACTION=0.36 zoomsync resync --account acct-1 --dry-run",
		"run with that limit: ZOOMSYNC_MAX_DELETE_FRACTION=0.36 zoomsync resync --account acct-1"} {
		if !strings.Contains(failed.Parts[0], want) {
			t.Errorf("%q lacks %q", failed.Parts[0], want)
		}
	}
	if strings.Contains(err.Error(), "permanent:") || strings.Contains(err.Error(), "zsync.") {
		t.Errorf("the message shows the error's internals: %v", err)
	}
	// With the limit it suggests, the dry run shows the 70 and the run removes them.
	cfg.Resync.MaxDeleteFraction = 0.36
	if out, err = run(true); err != nil || !strings.Contains(out, "deleted 70") {
		t.Fatalf("dry run with the suggested limit: %v\n%s", err, out)
	}
	if out, err = run(false); err != nil || !strings.Contains(out, "deleted 70") {
		t.Fatalf("run with the suggested limit: %v\n%s", err, out)
	}
	runs := r.Client().Keys(ctx, "zs:{runs}:*").Val()
	if len(runs) == 0 {
		t.Fatal("no run records")
	}

	purge := func(account string, dry bool, confirm func() (bool, error)) (string, error) {
		var out bytes.Buffer
		err := Purge(ctx, cfg, PurgeOptions{Account: account, DryRun: dry, Confirm: confirm, Stdout: &out})
		return out.String(), err
	}
	var ce *ConfigError
	if out, err := purge("acct-2", false, nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), `Redis holds nothing of account "acct-2" (configured here: acct-1); nothing was removed`) {
		t.Fatalf("purging an account Redis knows nothing of: %v\n%s", err, out)
	}
	keys := len(r.Client().Keys(ctx, "*").Val())
	if out, err := purge("acct-1", true, nil); err != nil || !strings.Contains(out, "(200 user records, ") ||
		!strings.Contains(out, fmt.Sprintf("and its results in %d resync run record(s)", len(runs))) ||
		!strings.Contains(out, "warning: account acct-1 is still configured") || !strings.Contains(out, "dry run: nothing was removed") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if out, err := purge("acct-1", false, func() (bool, error) { return false, nil }); !errors.Is(err, ErrPurgeCancelled) {
		t.Fatalf("refused confirmation: %v\n%s", err, out)
	}
	if n := len(r.Client().Keys(ctx, "*").Val()); n != keys {
		t.Fatalf("%d keys after a dry run and a refused confirmation, %d before", n, keys)
	}
	out, err = purge("acct-1", false, func() (bool, error) { return true, nil })
	if err != nil || !strings.Contains(out, "purged account acct-1: ") || !strings.Contains(out, "200 user records") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	// Nothing of the account is left: the run records named only it, so
	// they went too; what is left is the resync lease's fencing counter.
	for _, k := range r.Client().Keys(ctx, "*").Val() {
		if k != "zs:{lease:resync}:fence" {
			t.Errorf("key %s left after purging the only account", k)
		}
	}
}

// TestPurgeKeepsOtherAccountsInRunRecords: a run record of several
// accounts loses the purged account's result and the lines of its error
// that name it; the others', and its expiry, stay.
func TestPurgeKeepsOtherAccountsInRunRecords(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	ctx := context.Background()
	rdb := r.Client()
	rec := `{"run_id":"r1","trigger":"cli","status":"failed","error":"account gone: HTTP 401\naccount kept: HTTP 500","future_field":7,` +
		`"accounts":[{"account_id":"gone","seen":3,"summary":"account gone: seen 3"},{"account_id":"kept","seen":5,"summary":"account kept: seen 5"}]}`
	rdb.Set(ctx, runs.Key("r1"), rec, time.Hour)
	rdb.Set(ctx, runs.Key("r2"), `{"run_id":"r2","accounts":[{"account_id":"gone"}]}`, time.Hour)
	rdb.Set(ctx, runs.Key("r3"), `{"run_id":"r3","accounts":[{"account_id":"kept"}]}`, time.Hour)
	if n, err := purgeRuns(ctx, rdb, "gone", true); err != nil || n != 2 || rdb.Get(ctx, runs.Key("r1")).Val() != rec {
		t.Fatalf("dry run: %d %v", n, err)
	}
	if n, err := purgeRuns(ctx, rdb, "gone", false); err != nil || n != 2 {
		t.Fatalf("purge: %d %v", n, err)
	}
	got := rdb.Get(ctx, runs.Key("r1")).Val()
	if strings.Contains(got, "gone") || !strings.Contains(got, `"account_id":"kept"`) || !strings.Contains(got, `"future_field":7`) ||
		!strings.Contains(got, `"error":"account kept: HTTP 500"`) {
		t.Fatalf("r1 after the purge: %s", got)
	}
	if ttl := rdb.TTL(ctx, runs.Key("r1")).Val(); ttl <= 0 {
		t.Fatalf("r1 lost its expiry: %v", ttl)
	}
	if rdb.Exists(ctx, runs.Key("r2")).Val() != 0 || rdb.Exists(ctx, runs.Key("r3")).Val() != 1 {
		t.Fatal("want r2 (only the purged account) removed and r3 (another's) kept")
	}
}
