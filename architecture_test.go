package zoomsync_test

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/zoomsync/zoomsync/"

// layer is one row of docs/ARCHITECTURE.md's layers block.
type layer struct {
	rank     int // higher imports lower; -1: fakes, -2: apart
	name     string
	patterns []string // "pkg" or "pkg/..." (the package and every one below it)
}

// readLayers reads the block between the layers markers of
// docs/ARCHITECTURE.md: "RANK NAME PATTERN…", RANK a number, "fakes" or
// "apart".
func readLayers(t *testing.T) []layer {
	t.Helper()
	f, err := os.Open("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []layer
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "<!-- layers:"):
			in = true
			continue
		case line == "<!-- /layers -->":
			in = false
		}
		fields := strings.Fields(line)
		if !in || len(fields) < 3 || strings.HasPrefix(line, "```") {
			continue
		}
		l := layer{name: fields[1], patterns: fields[2:]}
		switch fields[0] {
		case "fakes":
			l.rank = -1
		case "apart":
			l.rank = -2
		default:
			if l.rank, err = strconv.Atoi(fields[0]); err != nil {
				t.Fatalf("layers block: %q: want a rank, fakes or apart first", line)
			}
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		t.Fatal("docs/ARCHITECTURE.md has no layers block")
	}
	return out
}

// of is the layer holding pkg (module-relative): the longest pattern
// matching it wins.
func of(layers []layer, pkg string) (layer, bool) {
	best, found, longest := layer{}, false, -1
	for _, l := range layers {
		for _, p := range l.patterns {
			base, tree := strings.CutSuffix(p, "/...")
			if (pkg == base || (tree && strings.HasPrefix(pkg, base+"/"))) && len(base) > longest {
				best, found, longest = l, true, len(base)
			}
		}
	}
	return best, found
}

// family is what same-layer imports must share: the first path element
// (internal/x counts as one).
func family(pkg string) string {
	parts := strings.Split(pkg, "/")
	if parts[0] == "internal" && len(parts) > 1 {
		return path.Join(parts[:2]...)
	}
	return parts[0]
}

// TestPackagesImportOnlyLowerLayers: data flows one way. Every package of
// the module is in one layer of docs/ARCHITECTURE.md, and imports only
// packages of lower layers, or of its own layer and family (mapping/mapper
// imports mapping); the fakes (test doubles of the outside) import only
// layers 0 and 1 and are imported by the commands (the demo) alone; the
// packages apart import nothing of the module. Tests are not counted.
func TestPackagesImportOnlyLowerLayers(t *testing.T) {
	layers := readLayers(t)
	top := 0
	for _, l := range layers {
		top = max(top, l.rank)
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ours := strings.CutPrefix(fields[0], module)
		if !ours {
			continue // this test's own package, the module root
		}
		from, ok := of(layers, pkg)
		if !ok {
			t.Errorf("%s is in no layer of docs/ARCHITECTURE.md: add it to the layers block", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			to, ok := of(layers, dep)
			if !ok {
				continue // reported as a package of its own
			}
			var bad string
			switch {
			case from.rank == -2:
				bad = "a package apart imports nothing of the module"
			case to.rank == -2:
				bad = "nothing imports a package apart"
			case to.rank == -1 && from.rank != -1 && from.rank < top-1:
				bad = "only the commands (the demo) and other fakes import a fake"
			case from.rank == -1 && to.rank > 1:
				bad = "a fake imports only layers 0 and 1"
			case from.rank >= 0 && to.rank > from.rank:
				bad = "it is in a higher layer"
			case from.rank >= 0 && to.rank == from.rank && family(pkg) != family(dep):
				bad = "it is in the same layer but another family"
			}
			if bad != "" {
				t.Errorf("%s (layer %s) imports %s (layer %s): %s", pkg, from.name, dep, to.name, bad)
			}
		}
	}
}
