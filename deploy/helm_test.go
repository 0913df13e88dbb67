package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"maps"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"sigs.k8s.io/yaml"

	"github.com/zoomsync/zoomsync/internal/config"
)

// chart is the chart's directory; valuesFiles are the three topologies
// CI renders it for.
const chart = "helm/zoomsync"

var valuesFiles = []string{"single", "sentinel", "cluster"}

func valuesFile(name string) string { return filepath.Join(chart, "ci", name+"-values.yaml") }

var helmBuilt sync.Once

// helm runs the Helm pinned in tools/helm.mod through `go tool` (nothing
// to install) and returns what it printed. From an empty build cache the
// build takes about 360 CPU-seconds (some 3 minutes on two idle cores)
// and the modules 90 s and 540 MB to download; afterwards `go tool` runs
// it from the build cache in seconds.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	run := func(args ...string) (string, error) {
		cmd := exec.Command("go", append([]string{"tool", "-modfile=../tools/helm.mod", "helm"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			return "", &helmError{args: args, err: err, stderr: errb.String() + out.String()}
		}
		return out.String(), nil
	}
	helmBuilt.Do(func() { // one build, before the parallel subtests ask for it
		start := time.Now()
		if v, err := run("version", "--short"); err != nil {
			t.Fatal(err)
		} else {
			t.Logf("helm %s ready in %v", strings.TrimSpace(v), time.Since(start).Round(time.Millisecond))
		}
	})
	out, err := run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type helmError struct {
	args   []string
	err    error
	stderr string
}

func (e *helmError) Error() string {
	return "helm " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.stderr
}

// rendered is one object of a rendered chart, with the template it came
// from.
type rendered struct {
	source string // e.g. templates/deployment.yaml
	obj    map[string]any
}

func (r rendered) kind() string { s, _ := r.obj["kind"].(string); return s }
func (r rendered) name() string { s, _ := get(r.obj, "metadata", "name").(string); return s }

// render runs helm template for a values file and decodes what it prints.
func render(t *testing.T, values string) []rendered {
	t.Helper()
	return decodeRendered(t, helm(t, "template", "zoomsync", chart, "--namespace", "zoomsync", "-f", values))
}

func decodeRendered(t *testing.T, text string) []rendered {
	t.Helper()
	var out []rendered
	for i, doc := range strings.Split(text, "\n---\n") {
		source := ""
		if _, rest, ok := strings.Cut(doc, "# Source: zoomsync/"); ok {
			source, _, _ = strings.Cut(rest, "\n")
		}
		var m map[string]any
		if err := yaml.UnmarshalStrict([]byte(doc), &m); err != nil {
			t.Fatalf("document %d (%s): %v", i+1, source, err)
		}
		if m == nil {
			continue // a template that rendered nothing
		}
		r := rendered{source: source, obj: m}
		if m["apiVersion"] == nil || r.kind() == "" || r.name() == "" {
			t.Fatalf("document %d (%s): apiVersion, kind and metadata.name are required", i+1, source)
		}
		out = append(out, r)
	}
	return out
}

func find(objs []rendered, kind string) []rendered {
	var out []rendered
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func one(t *testing.T, objs []rendered, kind string) map[string]any {
	t.Helper()
	found := find(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want one %s, rendered %d", kind, len(found))
	}
	return found[0].obj
}

// named is the one object of a kind with a name.
func named(t *testing.T, objs []rendered, kind, name string) map[string]any {
	t.Helper()
	for _, o := range find(objs, kind) {
		if o.name() == name {
			return o.obj
		}
	}
	t.Fatalf("no %s/%s rendered", kind, name)
	return nil
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

func toSlice(v any) []any { s, _ := v.([]any); return s }

func toStrings(v any) []string {
	var out []string
	for _, x := range toSlice(v) {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// knownVariable: a variable zoomsync reads (SPEC §3) or the Go runtime's
// GOMEMLIMIT.
func knownVariable(name string) bool {
	return name == "GOMEMLIMIT" || slices.Contains(config.Variables(), name)
}

// TestChartLintsAndRenders lints and renders the chart for each topology
// and checks what Kubernetes would run.
func TestChartLintsAndRenders(t *testing.T) {
	for _, name := range valuesFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			values := valuesFile(name)
			if out := helm(t, "lint", "--strict", chart, "-f", values); !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("lint:\n%s", out)
			}
			objs := render(t, values)
			checkImages(t, objs)
			dep := one(t, objs, "Deployment")
			pod := get(dep, "spec", "template", "spec")
			c := get(pod, "containers", 0)
			if args := toStrings(get(c, "args")); !slices.Equal(args, []string{"serve"}) {
				t.Errorf("deployment args %v", args)
			}
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				if get(c, probe, "httpGet", "path") != path || get(c, probe, "httpGet", "port") != "http" {
					t.Errorf("%s: %v, want %s on the http port", probe, get(c, probe), path)
				}
			}
			if g, _ := get(pod, "terminationGracePeriodSeconds").(float64); g < 25 {
				t.Errorf("terminationGracePeriodSeconds %v: serve drains for up to 20 s", g)
			}
			if get(pod, "securityContext", "runAsNonRoot") != true || get(c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Error("the pod must run as non-root with a read-only root filesystem")
			}
			if get(c, "resources", "limits", "cpu") == nil {
				t.Error("a CPU limit sizes GOMAXPROCS to the replica's share")
			}
			ports := map[string]float64{}
			for _, p := range toSlice(get(one(t, objs, "Service"), "spec", "ports")) {
				if name, _ := get(p, "name").(string); name == get(p, "targetPort") {
					ports[name], _ = get(p, "port").(float64)
				}
			}
			if !maps.Equal(ports, map[string]float64{"http": 8080, "admin": 8081}) {
				t.Errorf("the Service exposes %v, want http 8080 and admin 8081", ports)
			}
			checkNetworkPolicy(t, objs)
			for _, ing := range find(objs, "Ingress") {
				for _, rule := range toSlice(get(ing.obj, "spec", "rules")) {
					for _, p := range toSlice(get(rule, "http", "paths")) {
						if get(p, "path") != "/webhooks/" || get(p, "pathType") != "Prefix" || get(p, "backend", "service", "port", "name") != "http" {
							t.Errorf("the Ingress exposes %v: only the /webhooks/ prefix of the http port may be", p)
						}
					}
				}
			}
			for _, sm := range find(objs, "ServiceMonitor") {
				if ep := get(sm.obj, "spec", "endpoints", 0); get(ep, "port") != "admin" || get(ep, "path") != "/metrics" {
					t.Errorf("the ServiceMonitor scrapes %v, want /metrics on the admin port", ep)
				}
			}
			cm, _ := get(named(t, objs, "ConfigMap", "zoomsync"), "data").(map[string]any)
			for k := range cm {
				if !knownVariable(k) {
					t.Errorf("the ConfigMap sets %s, which zoomsync does not read", k)
				}
			}
			if jobs := find(objs, "CronJob"); len(jobs) > 0 {
				checkCronJob(t, jobs[0].obj, cm)
			} else if cm["ZOOMSYNC_RESYNC_SCHEDULE"] == "off" {
				t.Error("without the CronJob, serve's own schedule must run the nightly resync")
			}
			checkRedisMode(t, name, cm)
			for _, o := range append(find(objs, "Deployment"), find(objs, "CronJob")...) {
				loadAsZoomsync(t, o, objs)
			}
		})
	}
}

// checkImages: every container runs zoomsync at the chart's appVersion,
// never :latest.
func checkImages(t *testing.T, objs []rendered) {
	t.Helper()
	appVersion := chartAppVersion(t)
	n := 0
	for _, o := range objs {
		for _, c := range containers(o.obj) {
			n++
			if img := get(c, "image"); img != "ghcr.io/zoomsync/zoomsync:"+appVersion {
				t.Errorf("%s %s runs %v, want the chart's appVersion %s", o.kind(), o.name(), img, appVersion)
			}
		}
	}
	if n == 0 {
		t.Error("no containers rendered")
	}
}

func podSpec(obj map[string]any) any {
	if obj["kind"] == "CronJob" {
		return get(obj, "spec", "jobTemplate", "spec", "template", "spec")
	}
	return get(obj, "spec", "template", "spec")
}

func containers(obj map[string]any) []any { return toSlice(get(podSpec(obj), "containers")) }

// checkCronJob: the nightly resync waits for a running one within its
// deadline, fails at once on exit 2 and 3, and serve's schedule is off.
func checkCronJob(t *testing.T, job map[string]any, cm map[string]any) {
	t.Helper()
	if get(job, "spec", "concurrencyPolicy") != "Forbid" {
		t.Error("two resync Jobs must not overlap")
	}
	args := toStrings(get(containers(job)[0], "args"))
	if len(args) != 2 || args[0] != "resync" || !strings.HasPrefix(args[1], "--wait=") {
		t.Fatalf("cronjob args %v, want resync --wait=D", args)
	}
	wait, err := time.ParseDuration(strings.TrimPrefix(args[1], "--wait="))
	deadline, _ := get(job, "spec", "jobTemplate", "spec", "activeDeadlineSeconds").(float64)
	if err != nil || wait <= 0 || wait >= time.Duration(deadline)*time.Second/2 {
		t.Errorf("--wait %s and activeDeadlineSeconds %v: the wait must leave the run most of the deadline", args[1], deadline)
	}
	var failNow []float64
	for _, r := range toSlice(get(job, "spec", "jobTemplate", "spec", "podFailurePolicy", "rules")) {
		if get(r, "action") == "FailJob" {
			for _, v := range toSlice(get(r, "onExitCodes", "values")) {
				failNow = append(failNow, v.(float64))
			}
		}
	}
	if !slices.Equal(failNow, []float64{2, 3}) {
		t.Errorf("exit codes failing the Job at once: %v, want 2 (configuration) and 3 (another run)", failNow)
	}
	if cm["ZOOMSYNC_RESYNC_SCHEDULE"] != "off" {
		t.Error("with the CronJob, serve's own schedule must be off")
	}
}

func checkRedisMode(t *testing.T, mode string, cm map[string]any) {
	t.Helper()
	has := func(k string) bool { _, ok := cm[k]; return ok }
	switch mode {
	case "single":
		if !has("ZOOMSYNC_REDIS_URL") || has("ZOOMSYNC_REDIS_ADDRS") {
			t.Errorf("single: %v", cm)
		}
	case "sentinel":
		if !has("ZOOMSYNC_REDIS_ADDRS") || !has("ZOOMSYNC_REDIS_MASTER_NAME") || has("ZOOMSYNC_REDIS_URL") {
			t.Errorf("sentinel: %v", cm)
		}
	case "cluster":
		if !has("ZOOMSYNC_REDIS_ADDRS") || has("ZOOMSYNC_REDIS_MASTER_NAME") || has("ZOOMSYNC_REDIS_URL") {
			t.Errorf("cluster: %v", cm)
		}
	}
}

// checkNetworkPolicy: where the example policy is on, anyone reaches the
// http port and only the peers chosen reach the admin port.
func checkNetworkPolicy(t *testing.T, objs []rendered) {
	t.Helper()
	for _, np := range find(objs, "NetworkPolicy") {
		rules := map[float64]any{}
		for _, r := range toSlice(get(np.obj, "spec", "ingress")) {
			for _, p := range toSlice(get(r, "ports")) {
				port, _ := get(p, "port").(float64)
				rules[port] = get(r, "from")
			}
		}
		if from, ok := rules[8080]; !ok || from != nil {
			t.Errorf("NetworkPolicy: port 8080 must be open to anyone, got from %v (present %v)", from, ok)
		}
		if from := toSlice(rules[8081]); len(from) == 0 {
			t.Error("NetworkPolicy: port 8081 must be limited to the peers chosen")
		}
		if len(rules) != 2 {
			t.Errorf("NetworkPolicy: rules for ports %v, want 8080 and 8081", rules)
		}
	}
}

// loadAsZoomsync runs zoomsync's own configuration loader on the
// environment a rendered pod would have: the ConfigMap, the container's
// env (a Secret's value read as a placeholder), and the files it mounts
// (under /etc/zoomsync: the accounts, the targets rendered or a sample,
// passwords, a CA and a client certificate made here).
func loadAsZoomsync(t *testing.T, o rendered, objs []rendered) {
	t.Helper()
	root := t.TempDir()
	env := map[string]string{}
	c := containers(o.obj)[0]
	for _, from := range toSlice(get(c, "envFrom")) {
		name, _ := get(from, "configMapRef", "name").(string)
		data, _ := get(named(t, objs, "ConfigMap", name), "data").(map[string]any)
		for k, v := range data {
			env[k], _ = v.(string)
		}
	}
	for _, e := range toSlice(get(c, "env")) {
		name, _ := get(e, "name").(string)
		if v, ok := get(e, "value").(string); ok {
			env[name] = v
		} else if get(e, "valueFrom", "secretKeyRef") != nil {
			env[name] = "a-placeholder-secret-of-32-chars!"
		}
	}
	for k, v := range env {
		if strings.HasPrefix(v, "/etc/zoomsync/") {
			env[k] = filepath.Join(root, strings.TrimPrefix(v, "/etc/zoomsync/"))
		}
	}
	targets := []byte(sampleTargets)
	for _, s := range find(objs, "Secret") {
		if data, ok := get(s.obj, "stringData").(map[string]any); ok {
			if v, ok := data["targets.json"].(string); ok {
				targets = []byte(v)
			}
		}
	}
	caPEM, certPEM, keyPEM := testCertificates(t)
	for _, m := range toSlice(get(c, "volumeMounts")) {
		dir := filepath.Join(root, strings.TrimPrefix(get(m, "mountPath").(string), "/etc/zoomsync/"))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		files := map[string]map[string][]byte{
			"accounts":                {"accounts.json": []byte(sampleAccounts)},
			"targets":                 {"targets.json": targets},
			"redis-password":          {"password": []byte("redis-password\n")},
			"redis-sentinel-password": {"password": []byte("sentinel-password\n")},
			"redis-ca":                {"ca.crt": caPEM},
			"redis-client":            {"tls.crt": certPEM, "tls.key": keyPEM},
			"ldap-ca":                 {"ca.crt": caPEM},
		}[get(m, "name").(string)]
		if files == nil {
			t.Fatalf("%s %s mounts %v, which this test does not know how to fill", o.kind(), o.name(), get(m, "name"))
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := config.Load(context.Background(), envconfig.MapLookuper(env)); err != nil {
		t.Errorf("%s %s: zoomsync refuses the configuration the chart renders: %v", o.kind(), o.name(), err)
	}
}

const (
	sampleAccounts = `[{"account_id": "abcDEF123", "client_id": "client", "client_secret": "client-secret", "webhook_secret_token": "webhook-secret"}]`
	sampleTargets  = `[{"name": "pbx", "type": "webhook", "url": "https://pbx.example.com/zoomsync", "secret": "a-long-random-secret-for-signing",
	  "status_map": {"available": "Available", "in_meeting": "Busy", "on_call": "OnThePhone", "dnd": "DoNotDisturb", "offline": "Offline"}}]`
)

// testCertificates makes a CA and a client certificate it signed, in PEM.
func testCertificates(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, key := newKey(), newKey()
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "zoomsync"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}
