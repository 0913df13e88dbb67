package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/internal/testserver"
)

func TestResyncAndPurgeCommands(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, acct := startFake(t, 200)
	cfg := loadConfig(t, serveEnv(fake, r.URL(), "127.0.0.1:0"))
	ctx := context.Background()
	run := func(dry bool) (string, error) {
		var out bytes.Buffer
		err := Resync(ctx, cfg, ResyncOptions{DryRun: dry, Stdout: &out, Stderr: &out})
		return out.String(), err
	}
	out, err := run(false)
	if err != nil || !strings.Contains(out, "account acct-1: seen 200, created 200, updated 0, deactivated 0, deleted 0") {
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

	var purged bytes.Buffer
	if err := Purge(ctx, cfg, "acct-1", &purged, nil); err != nil || !strings.Contains(purged.String(), "200 user records") {
		t.Fatalf("purge: %v %s", err, purged.String())
	}
	// What is left is no account's: the resync runs' records (counts per
	// account id, kept 30 days) and the resync lease's fencing counter.
	for _, k := range r.Client().Keys(ctx, "*").Val() {
		if !strings.HasPrefix(k, "zs:{runs}:") && k != "zs:{lease:resync}:fence" {
			t.Errorf("key %s left after purging the only account", k)
		}
	}
}
