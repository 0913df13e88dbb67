// Package deploy holds the container and Kubernetes manifests; its test
// validates them (no Docker engine or cluster is available where CI runs).
package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/zoomsync/zoomsync/internal/config"
)

// docs reads every YAML document of the manifests.
func docs(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, part := range strings.Split(string(b), "\n---\n") {
			var m map[string]any
			if err := yaml.UnmarshalStrict([]byte(part), &m); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			kind, _ := m["kind"].(string)
			meta, _ := m["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			if m["apiVersion"] == nil || kind == "" || name == "" {
				t.Fatalf("%s document %d: apiVersion, kind and metadata.name are required", f, i+1)
			}
			out[kind+"/"+name] = m
		}
	}
	return out
}

// get walks a decoded document: get(m, "spec", "template", 0, "name").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func TestManifests(t *testing.T) {
	d := docs(t)
	for _, want := range []string{"Deployment/zoomsync", "Service/zoomsync", "CronJob/zoomsync-resync", "PodDisruptionBudget/zoomsync",
		"ConfigMap/zoomsync", "ConfigMap/zoomsync-targets", "Secret/zoomsync", "Secret/zoomsync-accounts"} {
		if d[want] == nil {
			t.Errorf("missing %s", want)
		}
	}
	known := config.Variables()
	checkVars := func(where string, names []string) {
		for _, n := range names {
			if n != "GOMEMLIMIT" && !slices.Contains(known, n) {
				t.Errorf("%s sets %s, which zoomsync does not read", where, n)
			}
		}
	}
	for _, name := range []string{"ConfigMap/zoomsync", "Secret/zoomsync"} {
		data, _ := get(d[name], "data").(map[string]any)
		if data == nil {
			data, _ = get(d[name], "stringData").(map[string]any)
		}
		var names []string
		for k := range data {
			names = append(names, k)
		}
		checkVars(name, names)
	}
	dep := get(d["Deployment/zoomsync"], "spec", "template", "spec")
	c := get(dep, "containers", 0)
	if args := get(c, "args"); !slices.Equal(toStrings(args), []string{"serve"}) {
		t.Errorf("deployment args %v", args)
	}
	if p := get(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness probe %v", p)
	}
	if p := get(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe %v", p)
	}
	if g, _ := get(dep, "terminationGracePeriodSeconds").(float64); g < 25 {
		t.Errorf("terminationGracePeriodSeconds %v: serve drains for up to 20 s", g)
	}
	if get(dep, "securityContext", "runAsNonRoot") != true || get(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("the pod must run as non-root with a read-only root filesystem")
	}
	var envNames []string
	for _, e := range toSlice(get(c, "env")) {
		envNames = append(envNames, get(e, "name").(string))
	}
	checkVars("Deployment env", envNames)
	job := get(d["CronJob/zoomsync-resync"], "spec", "jobTemplate", "spec", "template", "spec", "containers", 0)
	if args := get(job, "args"); !slices.Equal(toStrings(args), []string{"resync"}) {
		t.Errorf("cronjob args %v", args)
	}
	if get(d["CronJob/zoomsync-resync"], "spec", "concurrencyPolicy") != "Forbid" {
		t.Error("two resyncs must not overlap (the lease would skip one anyway)")
	}
	targets, _ := get(d["ConfigMap/zoomsync-targets"], "data", "targets.json").(string)
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(targets), &entries); err != nil || len(entries) == 0 {
		t.Fatalf("targets.json example: %v", err)
	}
}

func toSlice(v any) []any { s, _ := v.([]any); return s }

func toStrings(v any) []string {
	var out []string
	for _, x := range toSlice(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

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
