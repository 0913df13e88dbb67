package deploy

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestDockerfile checks the container's properties that matter: a static
// binary, a distroless non-root final stage, no network fetches outside
// the Go module proxy, an entrypoint.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	cont := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	var froms []string
	var final []string // instructions of the last stage
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			froms = append(froms, rest)
			final = nil
		case "ADD":
			if strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
				t.Errorf("ADD from a URL: %s", l)
			}
		case "HEALTHCHECK":
			t.Error("no HEALTHCHECK: Kubernetes probes /healthz and /readyz")
		}
		final = append(final, l)
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[len(froms)-1], "gcr.io/distroless/static") || !strings.Contains(froms[len(froms)-1], "nonroot") {
		t.Errorf("want a multi-stage build ending in distroless static nonroot, got %v", froms)
	}
	has := func(prefix string) bool {
		return slices.ContainsFunc(final, func(l string) bool { return strings.HasPrefix(l, prefix) })
	}
	if !has("USER nonroot") || !has("ENTRYPOINT [") || !has("COPY --from=build") {
		t.Errorf("final stage lacks USER nonroot, an exec-form ENTRYPOINT or the binary: %v", final)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "CGO_ENABLED=0 go build") }) {
		t.Error("the binary must be static (CGO_ENABLED=0) for distroless/static")
	}
	// `zoomsync version` names the commit the toolchain read from the
	// checkout unless a build argument says otherwise: an ARG with a
	// default ("dev", "unknown") would hide it in every image built
	// without --build-arg.
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		if strings.EqualFold(instr, "ARG") && (strings.HasPrefix(rest, "VERSION=") || strings.HasPrefix(rest, "COMMIT=")) && !strings.HasSuffix(rest, "=") {
			t.Errorf("%s: a default hides the commit the toolchain records; leave it empty", l)
		}
		if strings.Contains(l, "go build") {
			if strings.Contains(l, "-buildvcs=false") {
				t.Errorf("%s: the build must record the commit", l)
			}
			if strings.Contains(l, "buildinfo.version=${VERSION}") && !strings.Contains(l, "${VERSION:+") {
				t.Errorf("%s: pass the version to the linker only when VERSION is set", l)
			}
		}
	}
}
