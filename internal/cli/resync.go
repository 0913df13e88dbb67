package cli

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zoomsync/zoomsync/internal/app"
)

// defaultResyncWait is how long `zoomsync resync` waits for a resync that
// another process runs. The nightly CronJob meeting a run someone started
// by hand (POST /v1/resync) a little earlier then does its own run after
// it, instead of failing; a run that is still going after half an hour is
// worth a failed Job and a look.
const defaultResyncWait = 30 * time.Minute

// exitResyncRunning is the exit code of a resync that did not run because
// another one held the lease past --wait: nothing was changed, and the
// same command succeeds once the other run has ended.
const exitResyncRunning = 3

func runResync(ctx context.Context, env *Env, fs *flag.FlagSet) error {
	wait := fs.Lookup("wait").Value.(flag.Getter).Get().(time.Duration)
	if wait < 0 {
		return &usageError{"resync: --wait must not be negative"}
	}
	opts := app.ResyncOptions{
		Account: fs.Lookup("account").Value.String(),
		DryRun:  fs.Lookup("dry-run").Value.String() == "true",
		Wait:    wait,
		Stdout:  env.Stdout, Logger: env.Logger,
	}
	if isTerminal(env.Stderr) {
		// The progress line stays at the bottom of the terminal: log lines
		// are written above it, a summary takes it away.
		line := &progressLine{term: env.Stderr}
		progress := &resyncProgress{line: line, now: time.Now}
		opts.Progress = progress.page
		opts.Stdout = line.done(env.Stdout)
		opts.Logger = env.Config.Log.Logger(line.above(env.Stderr))
		defer line.clear()
	}
	return app.Resync(ctx, env.Config, opts)
}

// hangups delivers one value per SIGHUP until ctx ends (serve re-reads
// the accounts file). Without it SIGHUP would end the process.
func hangups(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default: // one pending reload covers several signals
				}
			}
		}
	}()
	return out
}
