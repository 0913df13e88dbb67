// Package cli is zoomsync's command line: the commands of SPEC §2, their
// flags, and exit codes.
//
// Exit codes: 0 success; 1 the command ran and failed (or is not built
// yet: such a command says so and never pretends); 2 the invocation or the
// configuration is wrong (unknown command or flag, invalid variable), with
// one line saying what; 3 resync did not run because another resync was
// still running after --wait (one line names it; nothing was changed).
//
// Every command except version and help loads and validates the whole
// configuration first, so a bad variable is reported the same way whatever
// the command.
package cli
