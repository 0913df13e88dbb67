package cli

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/testserver"
)

// TestResyncWhileAnotherRuns: `zoomsync resync` finding the resync lease
// held exits 3 with one line naming the run that holds it.
func TestResyncWhileAnotherRuns(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	ctx := context.Background()
	const running = "0123456789abcdef"
	started := time.Date(2026, 12, 2, 1, 55, 0, 0, time.UTC)
	r.Client().Set(ctx, "zs:{runs}:"+running, `{"run_id":"`+running+`","trigger":"api","status":"running","replica":"zoomsync-7f9c-x2","created":"2026-12-02T01:55:00Z","started":"`+started.Format(time.RFC3339)+`","accounts":[]}`, time.Hour)
	r.Client().Set(ctx, "zs:{lease:resync}", running+"@zoomsync-7f9c-x2:41", time.Minute)
	env := map[string]string{"ZOOMSYNC_REDIS_URL": r.URL(), "ZOOM_ACCOUNT_ID": "A", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s",
		"ZOOM_API_BASE_URL": "http://127.0.0.1:1/v2", "ZOOM_OAUTH_TOKEN_URL": "http://127.0.0.1:1/oauth/token", "ZOOMSYNC_LOG_LEVEL": "error"}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"gives up at once", []string{"resync", "--wait", "0"}, 3,
			"zoomsync resync: another resync is running: run " + running + " (started by api on zoomsync-7f9c-x2 at 2026-12-02T01:55:00Z)\n"},
		{"a dry run does not take the lease", []string{"resync", "--wait", "0", "--dry-run"}, 1, "zoomsync resync failed"},
		{"negative wait", []string{"resync", "--wait", "-1s"}, 2, "--wait must not be negative"},
		{"wait is a duration", []string{"resync", "--wait", "soon"}, 2, `invalid value "soon" for flag -wait`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, env, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstderr: %q\nwant: %q", code, tt.code, stderr, tt.stderr)
			}
			if tt.code == 3 && stderr != tt.stderr {
				t.Fatalf("want exactly one line, got %q", stderr)
			}
		})
	}
}

// TestHangupsDeliverSIGHUP: serve's SIGHUP reaches the reload (and does
// not end the process, as it would by default).
func TestHangupsDeliverSIGHUP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := hangups(ctx)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-hup
}
