// Package cli is zoomsync's command line: the commands of SPEC §2, their
// flags, and exit codes.
//
// Exit codes: 0 success; 1 the command ran and failed (or is not built
// yet: such a command says so and never pretends), or a purge was not
// confirmed; 2 the invocation or the configuration is wrong (unknown
// command or flag, invalid variable, a setting the command needs missing,
// an account it names that is not configured or of which Redis holds
// nothing, Redis refusing the credentials or certificates), with one line
// saying what, and nothing changed; 3 resync did not run because another
// resync was still running after --wait (one line names it; nothing was
// changed).
//
// Every command except version and help loads and validates the whole
// configuration first, so a bad variable is reported the same way whatever
// the command.
//
// On a terminal, resync keeps one progress line at the bottom of stderr;
// log lines are written above it and the summaries replace it, so neither
// breaks the other. purge asks for the account id before removing
// anything, unless --yes; off a terminal it needs --yes (or --dry-run).
package cli
