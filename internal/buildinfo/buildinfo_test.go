package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260102030405-0123456789ab"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}}}
	dirty := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tt := range []struct {
		name                string
		linkVersion, commit string
		bi                  *debug.BuildInfo
		want                string
	}{
		{"a checkout without flags names its commit and time", "", "", checkout,
			"zoomsync v0.0.0-20260102030405-0123456789ab (commit 0123456789ab, 2026-01-02T03:04:05Z, go1.26.8)"},
		{"link-time values win", "v1.2.3", "fedcba", checkout, "zoomsync v1.2.3 (commit fedcba, 2026-01-02T03:04:05Z, go1.26.8)"},
		{"uncommitted changes", "", "", dirty, "zoomsync dev (commit 0123456789ab-dirty, unknown, go1.26.8)"},
		{"no build information", "", "", &debug.BuildInfo{GoVersion: "go1.26.8"}, "zoomsync dev (commit unknown, unknown, go1.26.8)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := from(tt.linkVersion, tt.commit, tt.bi).String(); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
