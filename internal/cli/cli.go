package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/zoomsync/zoomsync/internal/app"
	"github.com/zoomsync/zoomsync/internal/buildinfo"
	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
)

// IO is what a command may touch of its process.
type IO struct {
	Stdin          io.Reader // nil: nothing to read (no confirmations)
	Stdout, Stderr io.Writer
	Env            envconfig.Lookuper
}

// Env is handed to a running command.
type Env struct {
	IO
	Config *config.Config // nil for commands that need none
	Logger *slog.Logger   // to Stderr, per ZOOMSYNC_LOG_LEVEL/FORMAT
}

// command is one subcommand.
type command struct {
	name, args, summary string
	needsConfig         bool
	batch               bool                   // one run, then exit (batchGCPercent)
	flags               func(fs *flag.FlagSet) // registers the command's flags
	run                 func(ctx context.Context, env *Env, fs *flag.FlagSet) error
}

// usageError is a wrong invocation: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func commands() []*command {
	return []*command{
		{name: "serve", summary: "run the worker: webhooks, inbox, reconciler, health and metrics (until SIGINT/SIGTERM; SIGHUP re-reads the accounts file)",
			needsConfig: true, run: func(ctx context.Context, env *Env, _ *flag.FlagSet) error {
				return app.Serve(ctx, env.Config, app.Options{Logger: env.Logger, Reload: hangups(ctx)})
			}},
		{name: "resync", args: "[--account ID] [--dry-run] [--wait D]", summary: "one complete pull and reconcile, then exit (for a nightly CronJob)",
			needsConfig: true, batch: true,
			flags: func(fs *flag.FlagSet) {
				fs.String("account", "", "resync only this Zoom account id")
				fs.Bool("dry-run", false, "report what would change without writing")
				fs.Duration("wait", defaultResyncWait, "while another resync runs (schedule, POST /v1/resync, another Job), wait this long for it to end, then exit 3; 0: exit 3 at once")
			},
			run: runResync},
		{name: "map", summary: "read the directory and recompute every Zoom user's link once, then exit", needsConfig: true, batch: true,
			run: func(ctx context.Context, env *Env, _ *flag.FlagSet) error {
				return app.Map(ctx, env.Config, env.Stdout, env.Logger)
			}},
		{name: "demo", args: "[--addr HOST:PORT] [--duration D] [--users N] [--rate R] [--verbose]",
			summary: "run on embedded defaults: a simulated Zoom pulled and sending signed webhooks", needsConfig: true,
			flags: demoFlags, run: runDemo},
		{name: "purge", args: "--account ID [--dry-run] [--yes]", summary: "remove every record of one account from Redis (asks first)", needsConfig: true,
			flags: purgeFlags, run: runPurge},
		{name: "version", summary: "print version, commit, commit time and Go version",
			run: func(_ context.Context, env *Env, _ *flag.FlagSet) error {
				fmt.Fprintln(env.Stdout, buildinfo.Read())
				return nil
			}},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, pio IO) int {
	cmds := commands()
	if len(args) == 0 {
		usage(pio.Stderr, cmds)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(pio.Stdout, cmds)
		return 0
	}
	var cmd *command
	for _, c := range cmds {
		if c.name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(pio.Stderr, "zoomsync: unknown command %q; run 'zoomsync --help' for the list\n", args[0])
		return 2
	}
	fs := newFlagSet(cmd.name)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(pio.Stdout, cmd, fs)
			return 0
		}
		fmt.Fprintf(pio.Stderr, "zoomsync %s: %v; run 'zoomsync %s --help'\n", cmd.name, err, cmd.name)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(pio.Stderr, "zoomsync %s: unexpected argument %q; run 'zoomsync %s --help'\n", cmd.name, fs.Arg(0), cmd.name)
		return 2
	}
	env := &Env{IO: pio, Logger: slog.New(slog.NewTextHandler(pio.Stderr, nil))}
	if cmd.needsConfig {
		cfg, err := config.Load(ctx, pio.Env)
		if err != nil {
			fmt.Fprintf(pio.Stderr, "zoomsync: configuration: %v\n", err)
			return 2
		}
		env.Config = cfg
		env.Logger = cfg.Log.Logger(pio.Stderr)
	}
	if cmd.batch {
		_, gogc := os.LookupEnv("GOGC")
		if p := batchGCPercent(gogc, debug.SetMemoryLimit(-1)); p > 0 {
			debug.SetGCPercent(p)
		}
	}
	if err := cmd.run(ctx, env, fs); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(pio.Stderr, "zoomsync %v; run 'zoomsync %s --help'\n", err, cmd.name)
			return 2
		}
		// Redis refused the configuration (credentials, ACL permissions,
		// certificates): like a bad variable, one line and exit 2.
		var re *redisconn.Error
		if errors.As(err, &re) && re.Kind == errs.Invalid {
			fmt.Fprintf(pio.Stderr, "zoomsync: %v\n", re)
			return 2
		}
		// A setting the command needs is missing: one line, exit 2.
		var ce *app.ConfigError
		if errors.As(err, &ce) {
			fmt.Fprintln(pio.Stderr, err)
			return 2
		}
		fmt.Fprintln(pio.Stderr, err)
		var held *app.RunningError
		if errors.As(err, &held) {
			return exitResyncRunning
		}
		return 1
	}
	return 0
}

// batchGCPercent is the GOGC a one-shot run (map, resync) uses, or 0 to
// keep the runtime's: under a memory limit (GOMEMLIMIT, which the
// deployment sets) and without a GOGC of the operator's, 400. Such a run
// builds its working set (a directory snapshot, every user) once and
// keeps it to the end, so at the default of 100 the collector marks that
// growing set again at every doubling: a sixth of a 100,000-user mapping
// run's CPU. The limit still bounds the heap; without one, the default
// stands.
func batchGCPercent(gogcSet bool, memoryLimit int64) int {
	if gogcSet || memoryLimit == math.MaxInt64 {
		return 0
	}
	return 400
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Main, in one line
	return fs
}

func usage(w io.Writer, cmds []*command) {
	fmt.Fprint(w, `zoomsync keeps Zoom users and presence in sync with your directory and phone systems.

Usage:
  zoomsync <command> [flags]

Commands:
`)
	sorted := append([]*command(nil), cmds...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Configuration comes from environment variables (ZOOMSYNC_*, ZOOM_*, LDAP_*);
see docs/SPEC.md. Run 'zoomsync <command> --help' for a command's flags.
`)
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: zoomsync %s %s\n\n%s\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}
