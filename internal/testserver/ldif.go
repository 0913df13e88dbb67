package testserver

import (
	"bufio"
	"fmt"
	"io"

	"github.com/zoomsync/zoomsync/internal/people"
)

// Directory layout of the generated test directory (see package people).
const (
	BaseDN          = people.BaseDN
	UsersDN         = people.UsersDN
	ServiceBindDN   = people.ServiceBindDN
	ServicePassword = people.ServicePassword
	RootDN          = "cn=admin," + BaseDN
	RootPassword    = "secret"
)

// Person is a generated person of the test directory.
type Person = people.Person

// PersonAt returns generated person i: the fake Zoom generates its users
// with the same names and emails, so the two sides match by construction
// unless a test changes one of them.
func PersonAt(i int) Person { return people.At(i) }

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
		fmt.Fprintf(bw, "uid: %s\ncn: %s\nsn: %s\ngivenName: %s\ndisplayName: %s %s\n", p.UID, p.CN(), p.Last, p.First, p.First, p.Last)
		fmt.Fprintf(bw, "mail: %s\nemployeeNumber: %s\ntelephoneNumber: %s\ntitle: %s\ndepartmentNumber: %s\n\n", p.Mail, p.EmployeeNumber, p.Phone, p.Title, p.Department)
	}
	return bw.Flush()
}
