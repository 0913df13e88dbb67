package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
	"sigs.k8s.io/yaml"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

const (
	composeDir  = "compose"
	composeFile = "compose/docker-compose.yaml"
	composeLDIF = "compose/ldap/people.ldif"
)

type composeService struct {
	Image       string            `json:"image"`
	Build       any               `json:"build"`
	Command     []string          `json:"command"`
	Environment map[string]string `json:"environment"`
	Volumes     []string          `json:"volumes"`
	Ports       []string          `json:"ports"`
	DependsOn   map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Healthcheck *struct {
		Test     []string `json:"test"`
		Interval string   `json:"interval"`
		Timeout  string   `json:"timeout"`
		Retries  int      `json:"retries"`
	} `json:"healthcheck"`
}

type composeProject struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
}

func readCompose(t *testing.T) composeProject {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var p composeProject
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return p
}

// TestCompose checks the Docker Compose trial without Docker: the
// services, pinned images, Redis' append-only file, that zoomsync's own
// loader accepts its settings, that the fake Zoom and zoomsync agree on
// the account, and that the directory's people are the fake's users.
func TestCompose(t *testing.T) {
	p := readCompose(t)
	for _, name := range []string{"redis", "openldap", "zoomfake", "zoomsync"} {
		if _, ok := p.Services[name]; !ok {
			t.Fatalf("no %s service", name)
		}
	}
	for name, s := range p.Services {
		repo, tag, ok := strings.Cut(s.Image, ":")
		if !ok || tag == "" || tag == "latest" || repo == "" {
			t.Errorf("%s runs %q: name an image by version", name, s.Image)
		}
		for dep, d := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			}
			if d.Condition == "service_healthy" && p.Services[dep].Healthcheck == nil {
				t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
	}
	if img := p.Services["zoomsync"].Image; img != "ghcr.io/zoomsync/zoomsync:"+chartAppVersion(t) {
		t.Errorf("zoomsync image %s: want the chart's appVersion", img)
	}
	redisCmd := strings.Join(p.Services["redis"].Command, " ")
	if !strings.Contains(redisCmd, "--appendonly yes") {
		t.Errorf("redis runs %q: want the append-only file on", redisCmd)
	}
	if !slices.ContainsFunc(p.Services["redis"].Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data") }) {
		t.Error("redis keeps its append-only file in a volume at /data")
	}

	zs := p.Services["zoomsync"]
	if !slices.Equal(zs.Command, []string{"serve"}) {
		t.Errorf("zoomsync command %v", zs.Command)
	}
	if !slices.Contains(zs.Ports, "8080:8080") || !slices.Contains(zs.Ports, "127.0.0.1:8081:8081") {
		t.Errorf("zoomsync ports %v: the http listener published, the admin one on 127.0.0.1 only", zs.Ports)
	}
	env := map[string]string{}
	for k, v := range zs.Environment {
		if !knownVariable(k) {
			t.Errorf("zoomsync sets %s, which it does not read", k)
		}
		env[k] = v
	}
	// Files the service mounts are read from the compose directory.
	for _, v := range zs.Volumes {
		parts := strings.Split(v, ":")
		for k, val := range env {
			if len(parts) >= 2 && val == parts[1] {
				env[k] = filepath.Join(composeDir, parts[0])
			}
		}
	}
	if _, err := config.Load(context.Background(), envconfig.MapLookuper(env)); err != nil {
		t.Errorf("zoomsync refuses the compose settings: %v", err)
	}

	// The fake Zoom and the accounts file describe the same account, and
	// zoomsync's Zoom URLs and webhook target point at each other.
	zf := p.Services["zoomfake"].Environment
	b, err := os.ReadFile(env["ZOOMSYNC_ACCOUNTS_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	var accounts []map[string]string
	if err := json.Unmarshal(b, &accounts); err != nil || len(accounts) != 1 {
		t.Fatalf("accounts.json: %v (%d accounts)", err, len(accounts))
	}
	a := accounts[0]
	for field, v := range map[string]string{"account_id": "ZOOMFAKE_ACCOUNT_ID", "client_id": "ZOOMFAKE_CLIENT_ID",
		"client_secret": "ZOOMFAKE_CLIENT_SECRET", "webhook_secret_token": "ZOOMFAKE_WEBHOOK_SECRET"} {
		if a[field] != zf[v] {
			t.Errorf("accounts.json %s %q, the fake's %s %q", field, a[field], v, zf[v])
		}
	}
	if want := zf["ZOOMFAKE_URL"] + "/v2"; env["ZOOM_API_BASE_URL"] != want {
		t.Errorf("ZOOM_API_BASE_URL %s, want the fake's %s", env["ZOOM_API_BASE_URL"], want)
	}
	if want := zf["ZOOMFAKE_URL"] + "/oauth/token"; env["ZOOM_OAUTH_TOKEN_URL"] != want {
		t.Errorf("ZOOM_OAUTH_TOKEN_URL %s, want the fake's %s", env["ZOOM_OAUTH_TOKEN_URL"], want)
	}
	if u, err := url.Parse(zf["ZOOMFAKE_URL"]); err != nil || u.Hostname() != "zoomfake" || ":"+u.Port() != zf["ZOOMFAKE_ADDR"] {
		t.Errorf("ZOOMFAKE_URL %s must be the zoomfake service on ZOOMFAKE_ADDR %s", zf["ZOOMFAKE_URL"], zf["ZOOMFAKE_ADDR"])
	}
	if want := "http://zoomsync" + env["ZOOMSYNC_HTTP_ADDR"] + "/webhooks/zoom/" + a["account_id"]; zf["ZOOMFAKE_WEBHOOK_URL"] != want {
		t.Errorf("ZOOMFAKE_WEBHOOK_URL %s, want %s", zf["ZOOMFAKE_WEBHOOK_URL"], want)
	}

	// The directory: the LDIF holds the fake's users (some left out, so
	// the mapping has unmatched users to show), under LDAP_BASE_DN.
	users, err := strconv.Atoi(zf["ZOOMFAKE_USERS"])
	if err != nil {
		t.Fatalf("ZOOMFAKE_USERS: %v", err)
	}
	ldap := p.Services["openldap"].Environment
	suffix := "dc=" + strings.ReplaceAll(ldap["LDAP_DOMAIN"], ".", ",dc=")
	if env["LDAP_BASE_DN"] != "ou=people,"+suffix || env["LDAP_BIND_DN"] != "cn=admin,"+suffix || env["LDAP_BIND_PASSWORD"] != ldap["LDAP_ADMIN_PASSWORD"] {
		t.Errorf("zoomsync's LDAP settings do not match the OpenLDAP service's domain %s and admin", ldap["LDAP_DOMAIN"])
	}
	want := peopleLDIF(env["LDAP_BASE_DN"], users)
	if os.Getenv("ZOOMSYNC_UPDATE_MANIFESTS") == "1" {
		if err := os.MkdirAll(filepath.Dir(composeLDIF), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(composeLDIF, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.ReadFile(composeLDIF); err != nil || string(got) != want {
		t.Errorf("%s is not the fake's %d users (ZOOMSYNC_UPDATE_MANIFESTS=1 writes it): %v", composeLDIF, users, err)
	}
}

// peopleLDIF is the directory of the trial: the fake Zoom's generated
// users 1..n, every ninth left out.
func peopleLDIF(base string, n int) string {
	var b strings.Builder
	b.WriteString("# The fake Zoom's generated users (zoomfake.EmailOf), every ninth left out\n")
	b.WriteString("# so that the mapping report has unmatched users; written by deploy's TestCompose.\n")
	fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: people\n", base)
	for i := 1; i <= n; i++ {
		if i%9 == 0 {
			continue
		}
		email := zoomfake.EmailOf(i)
		first, rest, _ := strings.Cut(strings.Split(email, "@")[0], ".")
		last, _, _ := strings.Cut(rest, ".")
		uid := fmt.Sprintf("user%d", i)
		fmt.Fprintf(&b, "\ndn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s %s\ngivenName: %s\nsn: %s\nmail: %s\nemployeeNumber: %d\n",
			uid, base, uid, title(first), title(last), title(first), title(last), email, i)
	}
	return b.String()
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &meta); err != nil || meta.AppVersion == "" {
		t.Fatalf("Chart.yaml appVersion: %v", err)
	}
	return meta.AppVersion
}
