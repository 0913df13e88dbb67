package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time (optional): go build -ldflags "-X
// github.com/zoomsync/zoomsync/internal/buildinfo.version=v1.2.3 -X
// github.com/zoomsync/zoomsync/internal/buildinfo.commit=abc123".
var (
	version = ""
	commit  = ""
)

// Info describes the running binary.
type Info struct {
	Version   string // v1.2.3, a pseudo-version derived from the commit, or "dev"
	Commit    string // the commit's hash (12 digits), "-dirty" when built with uncommitted changes; "unknown"
	Time      string // the commit's time (RFC 3339, UTC), "unknown"
	GoVersion string
}

// Read returns what the linker flags and the toolchain's build
// information say about this binary.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return from(version, commit, bi)
}

// from merges the link-time values with the toolchain's record; bi may be
// nil (a binary built without module support).
func from(linkVersion, linkCommit string, bi *debug.BuildInfo) Info {
	info := Info{Version: linkVersion, Commit: linkCommit, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		var revision, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if info.Commit == "" && revision != "" {
			info.Commit = revision[:min(len(revision), 12)]
			if modified == "true" {
				info.Commit += "-dirty"
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Time == "" {
		info.Time = "unknown"
	}
	return info
}

// String is the line `zoomsync version` prints.
func (i Info) String() string {
	return fmt.Sprintf("zoomsync %s (commit %s, %s, %s)", i.Version, i.Commit, i.Time, i.GoVersion)
}
