package testserver

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// The test Active Directory domain (Samba AD DC).
const (
	ADRealm    = "EXAMPLE.TEST"
	ADDomain   = "EXAMPLE" // NetBIOS name: EXAMPLE\user binds
	ADBaseDN   = "DC=example,DC=test"
	ADUsersDN  = "CN=Users," + ADBaseDN
	ADStaffDN  = "OU=Staff," + ADBaseDN
	ADGroupsDN = "OU=Groups," + ADBaseDN
	// The read-only service account zoomsync binds as: a plain domain
	// user (no administrator rights), in its own OU.
	ADServiceDN       = "CN=svc-zoomsync,OU=Service Accounts," + ADBaseDN
	ADServiceUPN      = "svc-zoomsync@example.test"
	ADServiceNT       = ADDomain + `\svc-zoomsync`
	ADServicePassword = "Svc-zoomsync-Pa55!"
	ADAdminDN         = "CN=Administrator," + ADUsersDN
	ADAdminPassword   = "Adm1n-Pa55word!"
	// ADPeopleFilter is the filter customers use for people in AD.
	ADPeopleFilter = "(&(objectCategory=person)(objectClass=user))"
)

// SambaOptions configures StartSamba.
type SambaOptions struct {
	// Users generated people (ADPersonAt) are loaded in bulk before the DC
	// starts.
	Users int
	// LDIF is added after the people through Samba's own modules (offline
	// ldbadd on sam.ldb), as Samba would take it over LDAP: groups and
	// their members, contacts, computers, odd people. Keep it small: each
	// add costs more the larger the directory.
	LDIF string
}

// Samba is a running Samba Active Directory domain controller serving
// LDAP only, on a loopback address of its own (its ports are fixed).
type Samba struct {
	Addr     string // 127.x.y.z, bound by this DC alone
	URL      string // ldap://Addr (StartTLS; plain simple binds are refused)
	LDAPSURL string // ldaps://Addr
	GCURL    string // ldap://Addr:3268, the Global Catalog
	GCSURL   string // ldaps://Addr:3269
	TLS      TLSFiles
	Dir      string
	HostName string // the DC's DNS name (dnsHostName in its rootDSE)

	removeDir bool
	proc      *process
}

//go:embed samba_load.py
var sambaLoader string

// Fixed ports of an AD DC: LDAP, LDAPS, Global Catalog, Global Catalog over TLS.
var sambaPorts = []int{389, 636, 3268, 3269}

// StartSamba provisions a new domain in a temporary directory, loads it,
// starts the DC and stops it when the test ends. Provisioning costs
// about 8 CPU-seconds: a package's tests should share one DC
// (LaunchSamba from TestMain or a sync.Once).
func StartSamba(tb testing.TB, opts SambaOptions) *Samba {
	tb.Helper()
	s, err := launchSamba(tb.TempDir(), opts)
	if err != nil {
		tb.Fatalf("testserver: samba: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// LaunchSamba is StartSamba for a DC shared by several tests: the caller
// stops it (Stop also removes its directory).
func LaunchSamba(opts SambaOptions) (*Samba, error) {
	dir, err := os.MkdirTemp("", "zoomsync-samba-")
	if err != nil {
		return nil, err
	}
	s, err := launchSamba(dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.removeDir = true
	return s, nil
}

func launchSamba(dir string, opts SambaOptions) (*Samba, error) {
	for _, bin := range []string{"samba", "samba-tool", "ldbadd"} {
		if _, err := findBinary(bin); err != nil {
			return nil, fmt.Errorf("%s not found; install Samba with scripts/ensure-packages.sh (apt-get install -y samba samba-ad-dc samba-ad-provision ldb-tools)", bin)
		}
	}
	s := &Samba{Dir: dir, HostName: fmt.Sprintf("dc%06d", mrand.N(1000000))}
	if err := s.provision(); err != nil {
		return nil, err
	}
	if err := s.load(opts); err != nil {
		return nil, err
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if s.Addr, err = freeLoopbackAddr(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("start: %w\n%s", err, tail(filepath.Join(dir, "samba.log"), 30))
}

// env is the environment of Samba's tools: TDB_NO_FSYNC (as Samba's own
// test suite sets it) skips fsync, which a throwaway test domain does not
// need.
func sambaEnv() []string { return append(os.Environ(), "TDB_NO_FSYNC=1") }

func (s *Samba) provision() error {
	tool, _ := findBinary("samba-tool")
	cmd := exec.Command(tool, "domain", "provision", "--realm="+ADRealm, "--domain="+ADDomain, "--server-role=dc",
		"--dns-backend=NONE", "--use-rfc2307", "--host-name="+s.HostName, "--adminpass="+ADAdminPassword,
		"--targetdir="+s.Dir, "--option=bind interfaces only = yes", "--option=interfaces = 127.0.0.1/8")
	cmd.Env = sambaEnv()
	cmd.Dir = s.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("provision: %v\n%s", err, lastLines(string(out), 30))
	}
	return nil
}

// load adds the base layout and the service account through Samba's
// modules, the generated people in bulk (samba_load.py), then opts.LDIF
// through Samba's modules.
func (s *Samba) load(opts SambaOptions) error {
	sam := filepath.Join(s.Dir, "private", "sam.ldb")
	var base strings.Builder
	for _, ou := range []string{ADStaffDN, ADGroupsDN, "OU=Service Accounts," + ADBaseDN} {
		fmt.Fprintf(&base, "dn: %s\nobjectClass: organizationalUnit\n\n", ou)
	}
	for d := 0; d < min(opts.Users, adDepartments); d++ {
		fmt.Fprintf(&base, "dn: %s\nobjectClass: organizationalUnit\n\n", adDepartmentDN(d))
	}
	fmt.Fprintf(&base, "dn: %s\nobjectClass: user\nsAMAccountName: svc-zoomsync\nuserPrincipalName: %s\n"+
		"description: read-only service account of zoomsync\nuserAccountControl: 66048\nunicodePwd:: %s\n\n",
		ADServiceDN, ADServiceUPN, unicodePwd(ADServicePassword))
	if err := s.ldbadd(sam, "base.ldif", base.String()); err != nil {
		return err
	}
	if opts.Users > 0 {
		path := filepath.Join(s.Dir, "people.ldif")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		err = WriteADPeopleLDIF(f, 1, opts.Users)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		loader := filepath.Join(s.Dir, "samba_load.py")
		if err := os.WriteFile(loader, []byte(sambaLoader), 0o600); err != nil {
			return err
		}
		partition := filepath.Join(s.Dir, "private", "sam.ldb.d", strings.ToUpper(ADBaseDN)+".ldb")
		cmd := exec.Command(python3(), loader, filepath.Join(s.Dir, "etc", "smb.conf"), sam, "tdb://"+partition, "svc-zoomsync", path)
		cmd.Env = sambaEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("bulk load: %v\n%s", err, lastLines(string(out), 30))
		}
	}
	if strings.TrimSpace(opts.LDIF) != "" {
		return s.ldbadd(sam, "extra.ldif", strings.TrimSpace(opts.LDIF)+"\n\n")
	}
	return nil
}

func (s *Samba) ldbadd(sam, name, ldif string) error {
	path := filepath.Join(s.Dir, name)
	if err := os.WriteFile(path, []byte(ldif), 0o600); err != nil {
		return err
	}
	bin, _ := findBinary("ldbadd")
	cmd := exec.Command(bin, "-H", sam, path)
	cmd.Env = sambaEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ldbadd %s: %v\n%s", name, err, lastLines(string(out), 30))
	}
	return nil
}

// python3 is the system interpreter, which has Samba's bindings (a
// python3 earlier on PATH, e.g. pyenv's, may not).
func python3() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// start writes the configuration for s.Addr (LDAP only, bound to that
// address alone, TLS with a new CA) and starts the DC in the foreground.
func (s *Samba) start() error {
	var err error
	if s.TLS, err = generateTLSFor(s.Dir, s.Addr); err != nil {
		return err
	}
	conf := filepath.Join(s.Dir, "etc", "smb.conf")
	d := s.Dir
	cfg := fmt.Sprintf(`[global]
	netbios name = %s
	realm = %s
	workgroup = %s
	server role = active directory domain controller
	server services = ldap
	interfaces = %s/8
	bind interfaces only = yes
	private dir = %s/private
	lock directory = %s
	state directory = %s/state
	cache directory = %s/cache
	binddns dir = %s/bind-dns
	pid directory = %s
	ncalrpc dir = %s/ncalrpc
	log file = %s/samba.log
	log level = 1
	tls enabled = yes
	tls keyfile = %s
	tls certfile = %s
	tls cafile = %s
	idmap_ldb:use rfc2307 = yes
`, strings.ToUpper(s.HostName), ADRealm, ADDomain, s.Addr, d, d, d, d, d, d, d, d, s.TLS.KeyFile, s.TLS.CertFile, s.TLS.CAFile)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		return err
	}
	bin, _ := findBinary("samba")
	cmd := exec.Command(bin, "-i", "-M", "single", "-s", conf, "--debug-stdout")
	cmd.Env = sambaEnv()
	// If the test process dies (a timeout panic), the DC goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "samba.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProcess(cmd)
	if err != nil {
		return err
	}
	s.URL = "ldap://" + s.Addr
	s.LDAPSURL = "ldaps://" + s.Addr
	s.GCURL = "ldap://" + s.Addr + ":3268"
	s.GCSURL = "ldaps://" + s.Addr + ":3269"
	want := strings.ToLower(s.HostName + "." + ADRealm)
	err = waitReady(p, 60*time.Second, func() error {
		conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
		if err != nil {
			return err
		}
		defer conn.Close()
		res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 5, false,
			"(objectClass=*)", []string{"dnsHostName"}, nil))
		if err != nil {
			return err
		}
		// Another DC on this address would answer too: make sure it is ours.
		if got := strings.ToLower(res.Entries[0].GetAttributeValue("dnsHostName")); got != want {
			return fmt.Errorf("%s answers as %q, not %q", s.Addr, got, want)
		}
		return nil
	})
	if err != nil {
		p.stop(10 * time.Second)
		return err
	}
	s.proc = p
	return nil
}

// PID of the running DC, 0 when stopped.
func (s *Samba) PID() int {
	if s.proc != nil && !s.proc.exited() {
		return s.proc.pid()
	}
	return 0
}

// Stop stops the DC by its PID (SIGTERM, then SIGKILL) and, for a shared
// DC, removes its directory.
func (s *Samba) Stop() {
	if s.proc != nil {
		s.proc.stop(10 * time.Second)
	}
	if s.removeDir {
		os.RemoveAll(s.Dir)
	}
}

// Bind opens an LDAP connection to the DC with StartTLS (the DC's CA
// trusted) and binds as user.
func (s *Samba) Bind(user, password string) (*ldap.Conn, error) {
	conn, err := ldap.DialURL(s.URL)
	if err != nil {
		return nil, err
	}
	if err := conn.StartTLS(s.TLSConfig()); err != nil {
		conn.Close()
		return nil, err
	}
	if err := conn.Bind(user, password); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// TLSConfig trusts the DC's CA.
func (s *Samba) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	if b, err := os.ReadFile(s.TLS.CAFile); err == nil {
		pool.AppendCertsFromPEM(b)
	}
	return &tls.Config{RootCAs: pool, ServerName: s.Addr, MinVersion: tls.VersionTLS12}
}

// freeLoopbackAddr picks a random 127.x.y.z (outside 127.0.0.0/16, where
// other test servers bind) on which all of an AD DC's ports are free.
func freeLoopbackAddr() (string, error) {
	addr := fmt.Sprintf("127.%d.%d.%d", 1+mrand.N(254), mrand.N(256), 1+mrand.N(254))
	for _, port := range sambaPorts {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, itoa(port)))
		if err != nil {
			return "", err
		}
		l.Close()
	}
	return addr, nil
}

// generateTLSFor writes a new CA and a server certificate for ip into dir
// (GenerateTLS names 127.0.0.1 only; a DC has an address of its own).
func generateTLSFor(dir, ip string) (TLSFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLSFiles{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zoomsync test AD CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return TLSFiles{}, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return TLSFiles{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return TLSFiles{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP(ip)},
		DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return TLSFiles{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return TLSFiles{}, err
	}
	f := TLSFiles{CAFile: filepath.Join(dir, "ad-ca.pem"), CertFile: filepath.Join(dir, "ad-server.pem"), KeyFile: filepath.Join(dir, "ad-server.key")}
	for _, w := range []struct {
		path, typ string
		der       []byte
	}{{f.CAFile, "CERTIFICATE", caDER}, {f.CertFile, "CERTIFICATE", der}, {f.KeyFile, "PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: w.der}), 0o600); err != nil {
			return TLSFiles{}, err
		}
	}
	return f, nil
}

// unicodePwd is AD's password attribute value: the quoted password in
// UTF-16LE, base64 for LDIF.
func unicodePwd(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New(name + " not found")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ADPerson is generated person i as an Active Directory user.
type ADPerson struct {
	Person
	DN, SAM, UPN string
	GUID         string // objectGUID as AD shows it (the first three groups little-endian)
	guid         [16]byte
	Extension    string // ipPhone: the Zoom Phone extension of the same person
	UAC          int    // userAccountControl
	Expired      bool   // accountExpires in the past
}

// Generated AD people: every tenth under CN=Users (AD's default
// container), the others in department OUs under OU=Staff.
// userAccountControl by i%40: 7 disabled (514), 17 disabled with
// DONT_EXPIRE_PASSWORD (66050), 27 enabled with DONT_EXPIRE_PASSWORD
// (66048); 37 enabled but past accountExpires; the rest 512.
const adDepartments = 50

func adDepartmentDN(d int) string { return fmt.Sprintf("OU=D%03d,%s", d, ADStaffDN) }

// ADPersonAt returns generated AD person i.
func ADPersonAt(i int) ADPerson {
	p := ADPerson{Person: PersonAt(i), UAC: 512}
	p.SAM = p.UID
	p.UPN = p.UID + "@example.test"
	container := adDepartmentDN(i % adDepartments)
	if i%10 == 0 {
		container = ADUsersDN
	}
	p.DN = "CN=" + ldap.EscapeDN(p.CN()) + "," + container
	switch i % 40 {
	case 7:
		p.UAC = 514
	case 17:
		p.UAC = 66050
	case 27:
		p.UAC = 66048
	case 37:
		p.Expired = true
	}
	p.Extension = itoa(10000 + i)
	sum := sha256.Sum256([]byte(fmt.Sprintf("zoomsync test AD person %d", i)))
	copy(p.guid[:], sum[:16])
	g := p.guid
	h := hex.EncodeToString([]byte{g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]})
	p.GUID = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	return p
}

// ImmutableID is the person's onPremisesImmutableId as Entra Connect
// would sync it: base64 of the objectGUID's raw bytes, as written to the
// directory.
func (p ADPerson) ImmutableID() string { return base64.StdEncoding.EncodeToString(p.guid[:]) }

// Disabled reports whether AD would refuse the person's logon: the
// account is disabled or expired.
func (p ADPerson) Disabled() bool { return p.UAC&2 != 0 || p.Expired }

// adExpiredAt is an accountExpires in the past (2019-04-12, in 100 ns
// intervals since 1601).
const adExpiredAt = "132000000000000000"

// WriteADPeopleLDIF writes generated AD people first..last (inclusive)
// as the bulk loader takes them: per-user attributes only.
func WriteADPeopleLDIF(w io.Writer, first, last int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	for i := first; i <= last; i++ {
		p := ADPersonAt(i)
		fmt.Fprintf(bw, "dn: %s\nobjectGUID:: %s\ncn: %s\nname: %s\n", p.DN, base64.StdEncoding.EncodeToString(p.guid[:]), p.CN(), p.CN())
		fmt.Fprintf(bw, "sAMAccountName: %s\nuserPrincipalName: %s\ngivenName: %s\nsn: %s\ndisplayName: %s %s\n", p.SAM, p.UPN, p.First, p.Last, p.First, p.Last)
		fmt.Fprintf(bw, "mail: %s\nproxyAddresses: SMTP:%s\nproxyAddresses: smtp:%s@mail.example.test\n", p.Mail, p.Mail, p.UID)
		fmt.Fprintf(bw, "employeeID: %s\ntelephoneNumber: %s\nipPhone: %s\ntitle: %s\ndepartment: %s\nuserAccountControl: %d\n",
			p.EmployeeNumber, p.Phone, p.Extension, p.Title, p.Department, p.UAC)
		if p.Expired {
			fmt.Fprintf(bw, "accountExpires: %s\n", adExpiredAt)
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}
