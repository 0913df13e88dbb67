package redisconn_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/redisconn"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/internal/testserver"
)

func secure(t *testing.T) *testserver.Security {
	return testserver.NewSecurity(t, redisconn.ACLRules(), redisconn.SentinelACLRules())
}

func check(t *testing.T, s redisconn.Settings) error {
	t.Helper()
	rdb, err := redisconn.Open(s, redisconn.Options{})
	if err != nil {
		return err
	}
	defer rdb.Close()
	return redisconn.Check(context.Background(), rdb, s)
}

func without(rules []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(rules), func(r string) bool { return slices.Contains(drop, r) })
}

func TestExperiment(t *testing.T) {
	sec := secure(t)
	other, err := testserver.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{Security: sec})
	plain := testserver.StartRedis(t, testserver.RedisOptions{})
	limited := *sec
	limited.UserRules = without(redisconn.ACLRules(), "+xadd", "+evalsha", "~zs:*")
	lim := testserver.StartRedis(t, testserver.RedisOptions{Security: &limited})
	strict := *sec
	strict.AuthClients = "yes"
	req := testserver.StartRedis(t, testserver.RedisOptions{Security: &strict})
	cases := map[string]func() redisconn.Settings{
		"wrong password": func() redisconn.Settings { s := r.Settings(); s.Password = secret.New("nope-secret"); return s },
		"no password": func() redisconn.Settings { s := r.Settings(); s.Password = secret.Secret{}; s.Username = ""; return s },
		"untrusted CA": func() redisconn.Settings { s := r.Settings(); s.TLS.CAFile = other.CAFile; return s },
		"system CAs":   func() redisconn.Settings { s := r.Settings(); s.TLS.CAFile = ""; return s },
		"server name":  func() redisconn.Settings { s := r.Settings(); s.TLS.ServerName = "redis.example.com"; return s },
		"plain to TLS": func() redisconn.Settings {
			s := r.Settings()
			s.TLS = redisconn.TLS{}
			s.URL = secret.New(strings.Replace(s.URL.Reveal(), "rediss:", "redis:", 1))
			return s
		},
		"TLS to plain": func() redisconn.Settings {
			s := plain.Settings()
			s.TLS = redisconn.TLS{Enabled: true}
			return s
		},
		"password to none": func() redisconn.Settings { s := plain.Settings(); s.Password = secret.New("x"); return s },
		"missing perms":    func() redisconn.Settings { return lim.Settings() },
		"no client cert": func() redisconn.Settings {
			s := req.Settings()
			s.TLS.CertFile, s.TLS.KeyFile = "", ""
			return s
		},
		"wrong client cert": func() redisconn.Settings {
			s := req.Settings()
			s.TLS.CertFile, s.TLS.KeyFile = other.ClientCertFile, other.ClientKeyFile
			return s
		},
		"client cert": func() redisconn.Settings { return req.Settings() },
	}
	for name, st := range cases {
		t.Run(name, func(t *testing.T) {
			err := check(t, st())
			t.Logf("kind %v: %v", errs.KindOf(err), err)
		})
	}
}

func TestExperiment2(t *testing.T) {
	sec := secure(t)
	c := testserver.StartClusterWith(t, testserver.ClusterOptions{Security: sec})
	sn := testserver.StartSentinelWith(t, testserver.SentinelOptions{Security: sec})
	cases := map[string]func() redisconn.Settings{
		"cluster wrong password": func() redisconn.Settings { s := c.Settings(); s.Password = secret.New("nope-secret"); return s },
		"cluster plain":          func() redisconn.Settings { s := c.Settings(); s.TLS = redisconn.TLS{}; return s },
		"sentinel wrong sentinel password": func() redisconn.Settings {
			s := sn.Settings()
			s.SentinelPassword = secret.New("nope-secret")
			return s
		},
		"sentinel no sentinel password": func() redisconn.Settings {
			s := sn.Settings()
			s.SentinelPassword = secret.Secret{}
			s.SentinelUsername = ""
			return s
		},
		"sentinel requirepass": func() redisconn.Settings {
			s := sn.Settings()
			s.SentinelPassword = secret.New(sec.SentinelPassword)
			s.SentinelUsername = ""
			return s
		},
		"sentinel wrong data password": func() redisconn.Settings { s := sn.Settings(); s.Password = secret.New("nope-secret"); return s },
		"sentinel master name":         func() redisconn.Settings { s := sn.Settings(); s.MasterName = "other"; return s },
		"sentinel ok":                  func() redisconn.Settings { return sn.Settings() },
	}
	for name, st := range cases {
		t.Run(name, func(t *testing.T) {
			err := check(t, st())
			t.Logf("kind %v: %v", errs.KindOf(err), err)
		})
	}
}
