// Package buildinfo says which zoomsync this binary is: its version, the
// commit it was built from and when that commit was made, and the Go
// version. `zoomsync version` prints it and /metrics exports it as
// zoomsync_build_info.
//
// Invariants:
//   - A value set at link time (-ldflags "-X …/buildinfo.version=v1.2.3",
//     the same for commit) wins over what the Go toolchain recorded; an
//     empty one falls back to it, so a build without flags from a git
//     checkout still names its commit and its time (the toolchain's
//     vcs.revision and vcs.time, and the module version it derives from
//     the tag or the commit).
//   - Nothing here fails: what is not known is "dev" (version) or
//     "unknown" (commit, time).
package buildinfo
