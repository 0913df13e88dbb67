package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/redis/go-redis/v9"
)

func TestRedisAOFSurvivesKill(t *testing.T) {
	r := StartRedis(t, RedisOptions{AOF: true})
	ctx := context.Background()
	c := r.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := r.PID()
	if pid == 0 {
		t.Fatal("no pid")
	}
	r.Kill()
	if r.PID() != 0 {
		t.Fatal("still running after Kill")
	}
	r.Restart()
	if r.PID() == pid {
		t.Fatal("restart kept the old pid")
	}
	// appendfsync everysec may lose the last second on a real crash; the
	// write above was followed by a round trip, and the AOF write(2) happens
	// before the reply, so the page cache has it even though fsync may not.
	got, err := c.Get(ctx, "k").Result()
	if err != nil || got != "v" {
		t.Fatalf("after kill+restart: %q, %v", got, err)
	}
}

func TestRedisPauseResume(t *testing.T) {
	r := StartRedis(t, RedisOptions{})
	r.Pause()
	r.Resume()
	if err := r.Client().Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestSlapdPagedSearchAndTLS(t *testing.T) {
	s := StartSlapd(t, SlapdOptions{Users: 1500, ADLimits: true, TLS: true})
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(ServiceBindDN, ServicePassword); err != nil {
		t.Fatal(err)
	}
	people := func() *ldap.SearchRequest {
		return ldap.NewSearchRequest(UsersDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=inetOrgPerson)", []string{"uid", "mail"}, nil)
	}
	res, err := conn.SearchWithPaging(people(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1500 {
		t.Fatalf("got %d entries", len(res.Entries))
	}
	// The AD-style cap refuses an unpaged search over 1000 entries.
	if _, err := conn.Search(people()); !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search over the cap: %v", err)
	}
	want := PersonAt(42)
	one, err := conn.Search(ldap.NewSearchRequest(UsersDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(mail="+ldap.EscapeFilter(want.Mail)+")", []string{"uid"}, nil))
	if err != nil || len(one.Entries) != 1 || one.Entries[0].GetAttributeValue("uid") != want.UID {
		t.Fatalf("lookup %s: %v %+v", want.Mail, err, one)
	}

	pem, err := os.ReadFile(s.TLS.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	defer tc.Close()
	if err := tc.Bind(ServiceBindDN, ServicePassword); err != nil {
		t.Fatalf("ldaps bind: %v", err)
	}
	st, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	if err := st.Bind(ServiceBindDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}

	s.Kill()
	s.Restart()
	again, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	again.Close()
}

// TestSecuredRedis: with Security, redis-server speaks TLS only, wants
// the admin password, knows the ACL user, and keeps all of it across a
// restart.
func TestSecuredRedis(t *testing.T) {
	sec := NewSecurity(t, []string{"~zs:*", "-@all", "+ping", "+get"}, nil)
	r := StartRedis(t, RedisOptions{Security: sec})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts *redis.Options
		ok   bool
	}{
		{"admin over TLS", r.Options(), true},
		{"ACL user over TLS", &redis.Options{Addr: r.Addr, Username: sec.User, Password: sec.UserPassword, TLSConfig: sec.ClientTLS()}, true},
		{"no password", &redis.Options{Addr: r.Addr, TLSConfig: sec.ClientTLS()}, false},
		{"plain text", &redis.Options{Addr: r.Addr, Password: sec.AdminPassword, MaxRetries: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := redis.NewClient(tc.opts)
			defer c.Close()
			if err := c.Ping(ctx).Err(); (err == nil) != tc.ok {
				t.Fatalf("ping: %v", err)
			}
		})
	}
	user := redis.NewClient(&redis.Options{Addr: r.Addr, Username: sec.User, Password: sec.UserPassword, TLSConfig: sec.ClientTLS()})
	defer user.Close()
	if err := user.Set(ctx, "zs:k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("the ACL user ran SET: %v", err)
	}
	r.Kill()
	r.Restart()
	if err := user.Ping(ctx).Err(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if !strings.HasPrefix(r.URL(), "rediss://") || r.Env()["ZOOMSYNC_REDIS_USERNAME"] != sec.User || r.Env()["ZOOMSYNC_REDIS_TLS_CA_FILE"] != sec.Certs.CAFile {
		t.Fatalf("env %v", r.Env())
	}
}

// TestSamba starts a Samba AD DC with bulk-loaded people and checks what
// the directory tests rely on: StartTLS and LDAPS with the test CA, UPN
// and DOMAIN\user binds, AD's refusal of plain simple binds, the generated
// objectGUIDs, and a clean stop by PID.
func TestSamba(t *testing.T) {
	const users = 30
	s := StartSamba(t, SambaOptions{Users: users, LDIF: `dn: CN=Zoom Users,` + ADGroupsDN + `
objectClass: group
member: ` + ADPersonAt(3).DN + `
`})
	for _, user := range []string{ADServiceUPN, ADServiceNT, ADServiceDN} {
		conn, err := s.Bind(user, ADServicePassword)
		if err != nil {
			t.Fatalf("bind as %s: %v", user, err)
		}
		conn.Close()
	}
	conn, err := s.Bind(ADServiceUPN, ADServicePassword)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(ADBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&"+ADPeopleFilter+"(employeeID=*))", []string{"objectGUID", "mail", "memberOf", "userAccountControl"}, nil), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != users {
		t.Fatalf("%d people, want %d", len(res.Entries), users)
	}
	// AD answers a search at the domain root with a continuation reference
	// to the configuration partition as well.
	if len(res.Referrals) == 0 {
		t.Errorf("no search reference at the domain root")
	}
	for _, e := range res.Entries {
		if e.DN == ADPersonAt(3).DN {
			if got := e.GetAttributeValues("memberOf"); len(got) != 1 || !strings.HasPrefix(got[0], "CN=Zoom Users,") {
				t.Errorf("memberOf of person 3: %q", got)
			}
			g := e.GetRawAttributeValue("objectGUID")
			if len(g) != 16 || g[0] != ADPersonAt(3).guid[0] {
				t.Errorf("objectGUID of person 3: %x", g)
			}
		}
	}
	// One-level searches (the people AD keeps in CN=Users: every tenth).
	one, err := conn.Search(ldap.NewSearchRequest(ADUsersDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(employeeID=*)", []string{"sAMAccountName"}, nil))
	if err != nil || len(one.Entries) != users/10 {
		t.Fatalf("one-level search of CN=Users: %v, %d entries", err, len(one.Entries))
	}
	// AD's "strong auth required": a simple bind without TLS is refused.
	plain, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Bind(ADServiceUPN, ADServicePassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) {
		t.Fatalf("plain simple bind: %v, want strong auth required", err)
	}
	tc, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(s.TLSConfig()))
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	defer tc.Close()
	if err := tc.Bind(ADServiceNT, ADServicePassword); err != nil {
		t.Fatalf("ldaps bind: %v", err)
	}
	pid := s.PID()
	s.Stop()
	if s.PID() != 0 || syscall.Kill(pid, 0) == nil {
		t.Fatalf("samba %d still running after Stop", pid)
	}
}
