package deploy

import (
	"os"
	"path/filepath"
	"testing"
)

// The plain manifests are the chart rendered with their values file; set
// ZOOMSYNC_UPDATE_MANIFESTS=1 (task manifests) to write them again.
var (
	plainValues    = filepath.Join("kubernetes", "values.yaml")
	plainManifests = filepath.Join("kubernetes", "zoomsync.yaml")
)

const plainHeader = "# Rendered from the Helm chart (deploy/helm/zoomsync) with kubernetes/values.yaml\n" +
	"# by `task manifests`; do not edit: change the values and render again.\n"

// TestPlainManifestsAreTheChartRendered keeps deploy/kubernetes from
// drifting from the chart.
func TestPlainManifestsAreTheChartRendered(t *testing.T) {
	want := plainHeader + helm(t, "template", "zoomsync", chart, "--namespace", "zoomsync", "-f", plainValues)
	if os.Getenv("ZOOMSYNC_UPDATE_MANIFESTS") == "1" {
		if err := os.WriteFile(plainManifests, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(plainManifests)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the chart rendered with %s: run `task manifests`", plainManifests, plainValues)
	}
	objs := decodeRendered(t, want)
	checkImages(t, objs)
	for _, o := range append(find(objs, "Deployment"), find(objs, "CronJob")...) {
		loadAsZoomsync(t, o, objs)
	}
	checkSecretExamples(t, objs)
}

// checkSecretExamples: secret.example.yaml has every Secret, and every
// key of it, that the manifests mount or read.
func checkSecretExamples(t *testing.T, objs []rendered) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", "secret.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]map[string]any{}
	for _, o := range decodeRendered(t, string(b)) {
		have[o.name()], _ = get(o.obj, "stringData").(map[string]any)
	}
	need := func(where, name, key string) {
		data, ok := have[name]
		switch {
		case !ok:
			t.Errorf("%s uses Secret %s, which secret.example.yaml lacks", where, name)
		case key != "" && data[key] == nil:
			t.Errorf("%s uses key %s of Secret %s, which secret.example.yaml lacks", where, key, name)
		}
	}
	for _, o := range append(find(objs, "Deployment"), find(objs, "CronJob")...) {
		where := o.kind() + " " + o.name()
		for _, v := range toSlice(get(podSpec(o.obj), "volumes")) {
			name, _ := get(v, "secret", "secretName").(string)
			if name == "" {
				continue
			}
			items := toSlice(get(v, "secret", "items"))
			if len(items) == 0 {
				need(where, name, "")
			}
			for _, it := range items {
				need(where, name, get(it, "key").(string))
			}
		}
		for _, c := range containers(o.obj) {
			for _, e := range toSlice(get(c, "env")) {
				if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
					need(where, get(ref, "name").(string), get(ref, "key").(string))
				}
			}
		}
	}
}
