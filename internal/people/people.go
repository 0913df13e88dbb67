// Package people generates the deterministic test population shared by the
// test directory (slapd and the in-process server) and the fake Zoom: the
// same person i has the same name, email and employee number everywhere,
// so the two sides match by construction unless a test changes one.
package people

import (
	"fmt"
	"strings"
)

// Directory layout of the generated directory.
const (
	BaseDN          = "dc=example,dc=com"
	UsersDN         = "ou=people," + BaseDN
	ServiceBindDN   = "cn=sync,ou=system," + BaseDN
	ServicePassword = "syncpass"
)

var (
	firstNames = strings.Fields("Ada Alan Barbara Claude Dennis Edsger Frances Grace Hedy John Katherine Ken Linus Margaret Niklaus Radia Tim Whitfield Xiao Yukihiro")
	lastNames  = strings.Fields("Lovelace Turing Liskov Shannon Ritchie Dijkstra Allen Hopper Lamarr McCarthy Johnson Thompson Torvalds Hamilton Wirth Perlman Berners-Lee Diffie Chen Matsumoto")
	titles     = strings.Fields("Engineer Manager Director Analyst Designer Support Sales Counsel")
)

// Person is generated person number i (1-based).
type Person struct {
	UID, First, Last, Mail, EmployeeNumber, Phone, Title, Department string
	Index                                                            int
}

// At returns generated person i.
func At(i int) Person {
	f := firstNames[i%20]
	l := lastNames[(i/20)%20]
	return Person{
		Index:          i,
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

// CN is the person's common name.
func (p Person) CN() string { return fmt.Sprintf("%s %s %d", p.First, p.Last, p.Index) }

// Attributes are the person's inetOrgPerson attributes.
func (p Person) Attributes() map[string][]string {
	return map[string][]string{
		"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"},
		"uid":         {p.UID}, "cn": {p.CN()}, "sn": {p.Last}, "givenName": {p.First},
		"displayName": {p.First + " " + p.Last}, "mail": {p.Mail}, "employeeNumber": {p.EmployeeNumber},
		"telephoneNumber": {p.Phone}, "title": {p.Title}, "departmentNumber": {p.Department},
	}
}
