package testserver

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Directory layout of the generated test directory.
const (
	BaseDN          = "dc=example,dc=com"
	UsersDN         = "ou=people," + BaseDN
	ServiceBindDN   = "cn=sync,ou=system," + BaseDN
	ServicePassword = "syncpass"
	RootDN          = "cn=admin," + BaseDN
	RootPassword    = "secret"
)

var (
	firstNames = strings.Fields("Ada Alan Barbara Claude Dennis Edsger Frances Grace Hedy John Katherine Ken Linus Margaret Niklaus Radia Tim Whitfield Xiao Yukihiro")
	lastNames  = strings.Fields("Lovelace Turing Liskov Shannon Ritchie Dijkstra Allen Hopper Lamarr McCarthy Johnson Thompson Torvalds Hamilton Wirth Perlman Berners-Lee Diffie Chen Matsumoto")
	titles     = strings.Fields("Engineer Manager Director Analyst Designer Support Sales Counsel")
)

// Person is generated user number i (1-based) of the test directory. The
// fake Zoom generates its users with the same names and emails, so the two
// sides match by construction unless a test changes one of them.
type Person struct {
	UID, First, Last, Mail, EmployeeNumber, Phone, Title, Department string
}

// PersonAt returns generated user i.
func PersonAt(i int) Person {
	f := firstNames[i%20]
	l := lastNames[(i/20)%20]
	return Person{
		UID:            fmt.Sprintf("u%07d", i),
		First:          f,
		Last:           l,
		Mail:           fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(f), strings.ToLower(l), i),
		EmployeeNumber: fmt.Sprint(i),
		Phone:          fmt.Sprintf("+1 555 %03d %04d", (i/10000)%1000, i%10000),
		Title:          titles[i%8],
		Department:     fmt.Sprintf("D%03d", i%50),
	}
}

// DN of the person's entry.
func (p Person) DN() string { return "uid=" + p.UID + "," + UsersDN }

// WriteBaseLDIF writes the suffix, the organisational units and the
// read-only service account.
func WriteBaseLDIF(w io.Writer) error {
	_, err := fmt.Fprintf(w, `dn: %[1]s
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: Example Inc

dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: ou=groups,%[1]s
objectClass: organizationalUnit
ou: groups

dn: ou=system,%[1]s
objectClass: organizationalUnit
ou: system

dn: %[2]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: sync
userPassword: %[3]s
description: read-only sync service account

`, BaseDN, ServiceBindDN, ServicePassword)
	return err
}

// WritePeopleLDIF writes generated users first..last (inclusive).
func WritePeopleLDIF(w io.Writer, first, last int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	for i := first; i <= last; i++ {
		p := PersonAt(i)
		fmt.Fprintf(bw, "dn: %s\nobjectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\nobjectClass: inetOrgPerson\n", p.DN())
		fmt.Fprintf(bw, "uid: %s\ncn: %s %s %d\nsn: %s\ngivenName: %s\ndisplayName: %s %s\n", p.UID, p.First, p.Last, i, p.Last, p.First, p.First, p.Last)
		fmt.Fprintf(bw, "mail: %s\nemployeeNumber: %s\ntelephoneNumber: %s\ntitle: %s\ndepartmentNumber: %s\n\n", p.Mail, p.EmployeeNumber, p.Phone, p.Title, p.Department)
	}
	return bw.Flush()
}
