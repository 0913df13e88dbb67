package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

// runSecurity is what the Cluster and Sentinel tests' topologies require:
// nothing, or, when the run asks for the secured topologies
// (ZOOMSYNC_TEST_REDIS=secure, task test-redis-secure), a password, an ACL
// user with exactly the commands zoomsync needs, and TLS.
func runSecurity(t testing.TB) *testserver.Security {
	if !testserver.SecureRun() {
		return nil
	}
	return testserver.NewSecurity(t, redisconn.ACLRules(), redisconn.SentinelACLRules())
}

// TestServeOnSecuredRedis: serve on Redis as managed services run it —
// requirepass, an ACL user with exactly the commands zoomsync needs,
// TLS only with a private CA — alone (with client certificates
// required), as a Cluster (TLS on the bus too) and behind Sentinels (TLS,
// their own password and ACL user): the first pull, a webhook accepted
// and applied, a lookup answered. Then go-redis's own log lines, provoked
// with wrong passwords, reach slog without any password.
func TestServeOnSecuredRedis(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, sec *testserver.Security) redisconn.Settings
	}{
		{"server, client certificate required", func(t *testing.T, sec *testserver.Security) redisconn.Settings {
			sec.AuthClients = "yes"
			return testserver.StartRedis(t, testserver.RedisOptions{Security: sec}).Settings()
		}},
		{"cluster", func(t *testing.T, sec *testserver.Security) redisconn.Settings {
			return testserver.StartClusterWith(t, testserver.ClusterOptions{Security: sec}).Settings()
		}},
		{"sentinel", func(t *testing.T, sec *testserver.Security) redisconn.Settings {
			return testserver.StartSentinelWith(t, testserver.SentinelOptions{Security: sec}).Settings()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := testserver.NewSecurity(t, redisconn.ACLRules(), redisconn.SentinelACLRules())
			st := tc.start(t, sec)
			fake, acct := startFake(t, 50)
			env := serveEnv(fake, "", "127.0.0.1:0")
			delete(env, "ZOOMSYNC_REDIS_URL")
			env["ZOOMSYNC_API_TOKENS"] = apiToken
			for k, v := range testserver.EnvOf(st) {
				env[k] = v
			}
			cfg := loadConfig(t, env)
			var logs lockedBuffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			base, done := startServeLogged(ctx, cfg, logger)
			if base == "" {
				t.Fatal(<-done)
			}
			eventually(t, "ready after the first pull", func() bool { return status(base+"/readyz") == 200 })
			u := acct.Users()[3]
			ev, err := acct.PresenceEvent(u.ID, "Presenting")
			if err != nil {
				t.Fatal(err)
			}
			if code, err := acct.Deliver(ctx, base+"/webhooks/zoom/"+acctID, ev); err != nil || code != 200 {
				t.Fatalf("webhook: %d %v", code, err)
			}
			var p helpdesk.Presence
			eventually(t, "the webhook applied and looked up", func() bool {
				return getJSON(t, base+"/v1/presence/"+u.Email, &p) == 200 && p.Status == "presenting"
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			// go-redis's own lines (dial failures, each Sentinel tried)
			// go through slog too, as in serve; provoke some.
			wrong := st
			wrong.Password = secret.New("wrong-password-8")
			wrong.SentinelPassword = secret.New("wrong-password-8")
			routeRedisLogs(logger)
			rdb, err := redisconn.Open(wrong, redisconn.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := rdb.Ping(context.Background()).Err(); err == nil {
				t.Fatal("a wrong password worked")
			}
			rdb.Close()
			out := logs.String()
			if st.MasterName != "" && !strings.Contains(out, `"msg":"redis client","message":"sentinel: GetMasterAddrByName`) {
				t.Errorf("no go-redis line reached slog:\n%s", out)
			}
			if !strings.Contains(out, `"redis_user":"zoomsync"`) || !strings.Contains(out, `"redis_tls":true`) {
				t.Errorf("the configuration line should name the Redis user and TLS:\n%s", out)
			}
			for _, p := range []string{sec.AdminPassword, sec.UserPassword, sec.SentinelPassword, sec.SentinelUserPassword, "wrong-password-8"} {
				if strings.Contains(out, p) {
					t.Errorf("the log shows a password:\n%s", out)
				}
			}
		})
	}
}

// startServeLogged is startServe with a logger.
func startServeLogged(ctx context.Context, cfg *config.Config, logger *slog.Logger) (string, <-chan error) {
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, Options{Logger: logger, Replica: "secured-1", Listening: func(a string) { addrc <- a }})
	}()
	select {
	case a := <-addrc:
		return "http://" + a, done
	case err := <-done:
		done <- err
		return "", done
	}
}

// TestOpenRedisWarnings: skipping certificate verification works and is
// warned about at every start; a Redis that does not answer yet is a
// warning, not an error (serve waits for it).
func TestOpenRedisWarnings(t *testing.T) {
	sec := testserver.NewSecurity(t, redisconn.ACLRules(), nil)
	r := testserver.StartRedis(t, testserver.RedisOptions{Security: sec})
	insecure := r.Settings()
	insecure.TLS.CAFile, insecure.TLS.InsecureSkipVerify = "", true
	for _, tc := range []struct {
		name string
		st   redisconn.Settings
		want string
	}{
		{"insecure skip verify", insecure, "Redis TLS certificates are NOT VERIFIED"},
		{"not answering", redisconn.Settings{URL: secret.New("redis://127.0.0.1:1/0")}, "Redis is not answering yet; carrying on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			rdb, closeRedis, err := openRedis(context.Background(), config.Redis{Settings: tc.st}, slog.New(slog.NewTextHandler(&logs, nil)), 0)
			if err != nil {
				t.Fatal(err)
			}
			defer closeRedis()
			if !strings.Contains(logs.String(), tc.want) || strings.Count(logs.String(), "\n") != 1 {
				t.Fatalf("want one warning %q, got:\n%s", tc.want, logs.String())
			}
			if tc.st.InsecureTLS() {
				if err := rdb.Ping(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
