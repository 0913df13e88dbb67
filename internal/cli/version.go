package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: go build -ldflags "-X github.com/zoomsync/zoomsync/internal/cli.version=v1.2.3 -X …cli.commit=abc123".
var (
	version = ""
	commit  = ""
)

// VersionLine is what `zoomsync version` prints.
func VersionLine() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
				if len(c) > 12 {
					c = c[:12]
				}
			case s.Key == "vcs.modified" && s.Value == "true" && c != "" && commit == "":
				c += "-dirty"
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("zoomsync %s (commit %s, %s)", v, c, runtime.Version())
}
