package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/zoomsync/zoomsync/internal/app"
)

func purgeFlags(fs *flag.FlagSet) {
	fs.String("account", "", "the Zoom account id to purge (required)")
	fs.Bool("dry-run", false, "say what would be removed, remove nothing")
	fs.Bool("yes", false, "purge without asking (needed when not on a terminal)")
}

// runPurge asks before it removes anything: on a terminal, the account id
// typed again; elsewhere (a Job, a script) --yes says it was meant.
func runPurge(ctx context.Context, env *Env, fs *flag.FlagSet) error {
	account := fs.Lookup("account").Value.String()
	dryRun := fs.Lookup("dry-run").Value.String() == "true"
	yes := fs.Lookup("yes").Value.String() == "true"
	if account == "" {
		return &usageError{"purge: --account is required"}
	}
	opts := app.PurgeOptions{Account: account, DryRun: dryRun, Stdout: env.Stdout, Logger: env.Logger}
	if !dryRun && !yes {
		if env.Stdin == nil || !isTerminal(env.Stdin) || !isTerminal(env.Stderr) {
			return &usageError{"purge: not on a terminal, so nothing can be confirmed: add --yes to purge, or --dry-run to see what would be removed"}
		}
		opts.Confirm = func() (bool, error) {
			fmt.Fprintf(env.Stderr, "This cannot be undone. Type the account id (%s) to purge it: ", account)
			answer, err := bufio.NewReader(env.Stdin).ReadString('\n')
			if err != nil && answer == "" {
				return false, nil
			}
			return strings.TrimSpace(answer) == account, nil
		}
	}
	return app.Purge(ctx, env.Config, opts)
}
