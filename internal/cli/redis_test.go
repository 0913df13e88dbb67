package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// TestRedisRefusalExitsTwo: serve, resync, map and purge open Redis the
// same way, and when it refuses the configuration (a wrong password, a
// certificate from an unknown CA, no client certificate where one is
// required, an ACL user without a command) each stops with exit 2 and one
// line that names the variable to check and never shows a password.
func TestRedisRefusalExitsTwo(t *testing.T) {
	sec := testserver.NewSecurity(t, redisconn.ACLRules(), nil)
	sec.AuthClients = "yes"
	r := testserver.StartRedis(t, testserver.RedisOptions{Security: sec})
	limited := append([]any{"ACL", "SETUSER", "limited", "on", ">limited-password-7"}, "~zs:*", "&zs:*", "-@all", "+ping", "+hello", "+multi", "+discard", "+exec")
	if err := r.Client().Do(context.Background(), limited...).Err(); err != nil {
		t.Fatal(err)
	}
	other, err := testserver.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	base := func(edit ...string) map[string]string {
		env := r.Env()
		for k, v := range map[string]string{"ZOOM_ACCOUNT_ID": "A", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s", "ZOOM_WEBHOOK_SECRET_TOKEN": "w",
			"ZOOMSYNC_HTTP_ADDR": "127.0.0.1:0", "LDAP_URL": "ldap://127.0.0.1:1", "LDAP_BASE_DN": "dc=example,dc=com"} {
			env[k] = v
		}
		for i := 0; i < len(edit); i += 2 {
			if edit[i+1] == "" {
				delete(env, edit[i])
			} else {
				env[edit[i]] = edit[i+1]
			}
		}
		return env
	}
	all := [][]string{{"serve"}, {"resync", "--dry-run"}, {"map"}, {"purge", "--account", "A", "--yes"}}
	tests := []struct {
		name     string
		env      map[string]string
		commands [][]string
		want     []string
	}{
		{"wrong password", base("ZOOMSYNC_REDIS_PASSWORD", "wrong-password-7"), all,
			[]string{`refused the credentials of user "zoomsync" (WRONGPASS`, "check ZOOMSYNC_REDIS_USERNAME and ZOOMSYNC_REDIS_PASSWORD"}},
		{"untrusted CA", base("ZOOMSYNC_REDIS_TLS_CA_FILE", other.CAFile), all,
			[]string{"certificate this host does not trust", "set ZOOMSYNC_REDIS_TLS_CA_FILE"}},
		{"no client certificate", base("ZOOMSYNC_REDIS_TLS_CERT_FILE", "", "ZOOMSYNC_REDIS_TLS_KEY_FILE", ""), [][]string{{"serve"}},
			[]string{"requires a client certificate", "set ZOOMSYNC_REDIS_TLS_CERT_FILE and ZOOMSYNC_REDIS_TLS_KEY_FILE"}},
		{"ACL user without the commands", base("ZOOMSYNC_REDIS_USERNAME", "limited", "ZOOMSYNC_REDIS_PASSWORD", "limited-password-7"), [][]string{{"serve"}},
			[]string{`user "limited" may not run `, "evalsha", "xadd", `grant the ACL in docs/OPERATIONS.md`}},
	}
	for _, tt := range tests {
		for _, args := range tt.commands {
			t.Run(tt.name+"/"+args[0], func(t *testing.T) {
				code, stdout, stderr := run(t, tt.env, args...)
				if code != 2 || stdout != "" {
					t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
				}
				if n := strings.Count(stderr, "\n"); n != 1 || !strings.HasPrefix(stderr, "zoomsync: Redis at "+r.Addr) {
					t.Fatalf("want one line about Redis at %s, got %d:\n%s", r.Addr, n, stderr)
				}
				for _, w := range tt.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%q lacks %q", stderr, w)
					}
				}
				for _, p := range []string{sec.AdminPassword, sec.UserPassword, "wrong-password-7", "limited-password-7"} {
					if strings.Contains(stderr, p) {
						t.Errorf("shows a password: %s", stderr)
					}
				}
			})
		}
	}
	// With every variable right, purge goes through.
	if code, stdout, stderr := run(t, base(), "purge", "--account", "A", "--dry-run"); code != 2 || !strings.Contains(stderr, `Redis holds nothing of account "A"`) {
		t.Fatalf("purge of an account Redis knows nothing of: exit %d\n%s\n%s", code, stdout, stderr)
	}
	r.Client().Set(context.Background(), "zs:{a:A:p:00}:u:x", "1", 0)
	if code, stdout, stderr := run(t, base(), "purge", "--account", "A", "--yes"); code != 0 || !strings.Contains(stdout, "purged account A") {
		t.Fatalf("purge: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
