package zoomfake

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"strings"
)

var (
	firstNames = strings.Fields("Ada Alan Barbara Claude Dennis Edsger Frances Grace Hedy John Katherine Ken Linus Margaret Niklaus Radia Tim Whitfield Xiao Yukihiro")
	lastNames  = strings.Fields("Lovelace Turing Liskov Shannon Ritchie Dijkstra Allen Hopper Lamarr McCarthy Johnson Thompson Torvalds Hamilton Wirth Perlman Berners-Lee Diffie Chen Matsumoto")
)

// Generation rules (see the package doc).

// IsPending reports whether generated user i is pending.
func IsPending(i int) bool { return i%50 == 0 }

// IsInactive reports whether generated user i is deactivated.
func IsInactive(i int) bool { return !IsPending(i) && i%33 == 0 }

// HasPhone reports whether generated user i has Zoom Phone.
func HasPhone(i int) bool { return i%5 != 0 }

// IsAgent reports whether generated user i is a Contact Center agent.
func IsAgent(i int) bool { return i%10 == 3 }

// Extension is generated user i's phone extension.
func Extension(i int) int64 { return int64(10000 + i) }

// EmailOf is generated user i's email.
func EmailOf(i int) string {
	return fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(firstNames[i%20]), strings.ToLower(lastNames[(i/20)%20]), i)
}

var initialPresence = [20]string{
	"Available", "Available", "Available", "Available", "Available", "Available",
	"Available", "Available", "Available", "Available", "Available", "Available",
	"Away", "Away", "In_Meeting", "On_Phone_Call", "Do_Not_Disturb", "In_Calendar_Event", "Presenting", "Offline",
}

// UserIDFor is the Zoom id of generated user i of account: 22 base62
// characters, like Zoom's.
func UserIDFor(accountID string, i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s:%d", accountID, i)))
	s := new(big.Int).SetBytes(sum[:]).Text(62)
	return s[:22]
}

func generateUser(accountID string, i int) *User {
	first, last := firstNames[i%20], lastNames[(i/20)%20]
	u := &User{
		ID:               UserIDFor(accountID, i),
		Email:            EmailOf(i),
		FirstName:        first,
		LastName:         last,
		Type:             2,
		Status:           "active",
		Dept:             fmt.Sprintf("D%03d", i%50),
		EmployeeUniqueID: fmt.Sprint(i),
		Timezone:         "America/New_York",
		GroupIDs:         []string{fmt.Sprintf("grp%d", i%4)},
		Presence:         initialPresence[i%20],
	}
	if i%7 == 0 {
		u.Type = 1
	}
	switch {
	case IsPending(i):
		u.Status = "pending"
	case IsInactive(i):
		u.Status = "inactive"
	}
	if u.Status != "active" {
		u.Presence = "Offline"
	}
	if HasPhone(i) {
		u.Phone = &Phone{
			PhoneUserID:     "pu" + u.ID[:12],
			ExtensionID:     "ext" + u.ID[:12],
			ExtensionNumber: Extension(i),
			Number:          fmt.Sprintf("+1555%07d", i%10_000_000),
		}
	}
	if IsAgent(i) {
		u.Agent = &Agent{StatusID: "1", StatusName: "Ready"}
		if u.Status != "active" {
			u.Agent = &Agent{StatusID: "0", StatusName: "Offline"}
		}
	}
	return u
}
