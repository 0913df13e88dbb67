// Package config reads zoomsync's configuration from the environment
// (SPEC §3) and validates all of it at start-up.
//
// go-envconfig reads every variable, with SPEC §3's defaults, into a struct
// of raw strings; Load then parses and checks each one so that an error
// names the variable itself, in one line:
//
//	ZOOMSYNC_MAX_DELETE_FRACTION: must be a number between 0 and 1, got "1.5"
//
// Invariants:
//   - Every secret (client secrets, webhook secret tokens, the LDAP bind
//     password, API tokens, a password inside ZOOMSYNC_REDIS_URL) is held as
//     a secret.Secret, so a Config can be printed, logged or marshalled
//     without leaking one.
//   - Accounts come from the single-account variables, from
//     ZOOMSYNC_ACCOUNTS_FILE, or both (the single account is added to the
//     file's); two accounts with the same id are an error.
//   - A Config that Load returned is complete: nothing downstream re-parses
//     an environment variable.
//   - Every variable Load reads has a one-line meaning (variables.go);
//     README.md's table of variables is generated from them, and a test
//     fails when that table or SPEC §3 is out of step with the code.
package config
