package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// SlapdOptions configures StartSlapd.
type SlapdOptions struct {
	Users    int  // generated people uid=u0000001… (see PersonAt)
	ADLimits bool // cap pages at 1000 entries like Active Directory
	TLS      bool // also serve ldaps:// and StartTLS with a generated CA
	// ExtraLDIF is appended after the generated people (extra or odd entries).
	ExtraLDIF string
}

// Slapd is a running OpenLDAP server loaded with a generated directory.
type Slapd struct {
	URL      string // ldap://127.0.0.1:port
	LDAPSURL string // ldaps://127.0.0.1:port when TLS is on
	TLS      TLSFiles
	Dir      string

	daemon
	bin   string
	ports [2]int
}

// StartSlapd loads a directory offline with slapadd and starts slapd on it.
func StartSlapd(tb testing.TB, opts SlapdOptions) *Slapd {
	tb.Helper()
	s := &Slapd{bin: lookBinary(tb, "slapd", "slapd"), Dir: tb.TempDir()}
	s.daemon = daemon{tb: tb, name: "slapd", grace: 10 * time.Second, start: s.start}
	slapadd := lookBinary(tb, "slapadd", "slapd")
	if opts.TLS {
		var err error
		if s.TLS, err = GenerateTLS(s.Dir); err != nil {
			tb.Fatalf("testserver: tls: %v", err)
		}
	}
	conf := filepath.Join(s.Dir, "slapd.conf")
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(s.config(opts)), 0o600); err != nil {
		tb.Fatal(err)
	}
	ldifPath := filepath.Join(s.Dir, "data.ldif")
	f, err := os.Create(ldifPath)
	if err != nil {
		tb.Fatal(err)
	}
	err = WriteBaseLDIF(f)
	if err == nil && opts.Users > 0 {
		err = WritePeopleLDIF(f, 1, opts.Users)
	}
	if err == nil && opts.ExtraLDIF != "" {
		_, err = f.WriteString(strings.TrimSpace(opts.ExtraLDIF) + "\n\n")
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("testserver: ldif: %v", err)
	}
	if out, err := exec.Command(slapadd, "-q", "-f", conf, "-l", ldifPath).CombinedOutput(); err != nil {
		tb.Fatalf("testserver: slapadd: %v\n%s", err, out)
	}
	for attempt := 0; attempt < 10; attempt++ {
		if s.ports[0], err = freePort(); err != nil {
			break
		}
		if opts.TLS {
			if s.ports[1], err = freePort(); err != nil {
				break
			}
		}
		if err = s.launch(); err == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("testserver: start slapd: %v\n%s", err, tail(filepath.Join(s.Dir, "slapd.log"), 20))
	return nil
}

func (s *Slapd) config(opts SlapdOptions) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	for _, schema := range []string{"core", "cosine", "inetorgperson"} {
		line("include /etc/ldap/schema/%s.schema", schema)
	}
	line("pidfile %s", filepath.Join(s.Dir, "slapd.pid"))
	line("argsfile %s", filepath.Join(s.Dir, "slapd.args"))
	line("modulepath /usr/lib/ldap")
	line("moduleload back_mdb")
	line("moduleload sssvlv")
	line("loglevel 0")
	line("sizelimit unlimited")
	line("timelimit unlimited")
	if opts.TLS {
		line("TLSCACertificateFile %s", s.TLS.CAFile)
		line("TLSCertificateFile %s", s.TLS.CertFile)
		line("TLSCertificateKeyFile %s", s.TLS.KeyFile)
	}
	line(`access to dn.base="" by * read`)
	line(`access to dn.base="cn=Subschema" by * read`)
	line("access to attrs=userPassword by self write by anonymous auth by * none")
	line("access to * by users read by * none")
	line("database mdb")
	line(`suffix "%s"`, BaseDN)
	line(`rootdn "%s"`, RootDN)
	line("rootpw %s", RootPassword)
	line("directory %s", filepath.Join(s.Dir, "data"))
	line("maxsize 4294967296")
	line("dbnosync")
	line("index objectClass eq")
	line("index uid,mail,employeeNumber,cn eq")
	if opts.ADLimits {
		line("limits users size.soft=1000 size.hard=1000 size.pr=1000 size.prtotal=unlimited")
	}
	line("overlay sssvlv")
	return b.String()
}

func (s *Slapd) start() (*process, error) {
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", s.ports[0])
	urls := s.URL + "/"
	if s.ports[1] != 0 {
		s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", s.ports[1])
		urls += " " + s.LDAPSURL + "/"
	}
	cmd := exec.Command(s.bin, "-f", filepath.Join(s.Dir, "slapd.conf"), "-h", urls, "-d", "0")
	logf, err := os.OpenFile(filepath.Join(s.Dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProcess(cmd)
	if err != nil {
		return nil, err
	}
	err = waitReady(p, 15*time.Second, func() error {
		conn, err := ldap.DialURL(s.URL)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 5, false, "(objectClass=*)", []string{"namingContexts"}, nil))
		return err
	})
	if err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}
