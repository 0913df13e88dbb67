// Package luascript runs zoomsync's Redis Lua scripts: each script is an
// embedded .lua file whose KEYS and ARGV slots have names.
//
// A script is declared with two Go structs, one for its KEYS and one for
// its ARGV; a field's `lua` tag is the name the script sees, and the
// order of the fields is the order of the slots. The script's source is a
// generated prelude, on one line, that binds each name to its slot
// ("local outbox, sent = KEYS[1], KEYS[2]"), the script's constants, and
// then the .lua files. Go code builds KEYS and ARGV by filling the
// structs, so the slot order is declared once and no script indexes
// KEYS or ARGV by number for a fixed slot.
//
// A script whose count of keys or arguments varies ends its struct with
// one slice field: its name is bound to the first slot it fills
// ("local rest = 10"), and the script reads its values from there.
//
// Invariants:
//   - A script's source, and so its SHA, depends only on the structs, the
//     constants and the files: the same binary loads the same script on
//     every node.
//   - The prelude takes one line, so an error at line N of a script's
//     last file is reported at line N+1 (plus the lines of the files
//     before it).
//   - Errors are classified by redisconn.Classify: NOSCRIPT is
//     errs.NotFound, everything else Redis answers is errs.Unavailable.
package luascript
