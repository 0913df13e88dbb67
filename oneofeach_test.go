package zoomsync_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOneOfEach: what several packages need exists once. Production code
// (not tests) hashes with FNV-1a only through internal/fnv1a, backs off
// only through cenkalti/backoff (no doubling of its own), and reads Redis
// error text only in internal/redisconn (Classify); every Lua script
// names its KEYS/ARGV slots rather than numbering them.
func TestOneOfEach(t *testing.T) {
	rules := []struct {
		what    string
		ext     string
		pattern *regexp.Regexp
		owner   string // the one directory allowed; "" for none
	}{
		{"imports hash/fnv (use internal/fnv1a)", ".go", regexp.MustCompile(`"hash/fnv"`), "internal/fnv1a"},
		{"doubles a wait by hand (use cenkalti/backoff)", ".go",
			regexp.MustCompile(`(?i)(backoff|wait|delay|sleep|interval)\w*\s*(\*=\s*2\b|=\s*(min\()?\s*2\s*\*)`), ""},
		{"matches Redis error text (use redisconn.Classify)", ".go",
			regexp.MustCompile(`strings\.(Contains|HasPrefix|HasSuffix|EqualFold|Index)\([^\n]*"(NOSCRIPT|NOGROUP|BUSYGROUP|WRONGTYPE|MOVED|ASK|LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|NOAUTH|WRONGPASS|NOPERM|BUSY)\b`),
			"internal/redisconn"},
		{"numbers a KEYS/ARGV slot (name it in the script's Go struct)", ".lua", regexp.MustCompile(`\b(KEYS|ARGV)\[\d`), ""},
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "_test.go") {
			return nil
		}
		var src []byte
		for _, r := range rules {
			if filepath.Ext(path) != r.ext || (r.owner != "" && strings.HasPrefix(filepath.ToSlash(path), r.owner+"/")) {
				continue
			}
			if src == nil {
				if src, err = os.ReadFile(path); err != nil {
					return err
				}
			}
			for i, line := range strings.Split(string(src), "\n") {
				if r.pattern.MatchString(line) {
					t.Errorf("%s:%d %s: %s", path, i+1, r.what, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
