package zoomfake

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AccountSpec describes a fake account.
type AccountSpec struct {
	ID, ClientID, ClientSecret, WebhookSecret string
	Name                                      string
	Users                                     int // generated users
	FirstUser                                 int // generated indices start at FirstUser+1
}

// User is a user as the fake stores it.
type User struct {
	ID, Email, FirstName, LastName string
	Type                           int
	Status                         string // active, inactive, pending
	Dept, EmployeeUniqueID         string
	Timezone                       string
	GroupIDs                       []string
	Presence                       string // webhook spelling, e.g. In_Meeting
	Phone                          *Phone // nil: no Zoom Phone
	Agent                          *Agent // nil: not a Contact Center agent
	CreatedAt                      time.Time

	seq     int
	deleted bool
}

// Phone is a user's Zoom Phone profile.
type Phone struct {
	PhoneUserID, ExtensionID string
	ExtensionNumber          int64
	Number                   string
}

// Agent is a user's Contact Center status.
type Agent struct {
	StatusID, StatusName, SubStatusID, SubStatusName string
}

// DisplayName is "First Last".
func (u *User) DisplayName() string { return strings.TrimSpace(u.FirstName + " " + u.LastName) }

func (u *User) clone() User {
	c := *u
	c.GroupIDs = append([]string(nil), u.GroupIDs...)
	if u.Phone != nil {
		p := *u.Phone
		c.Phone = &p
	}
	if u.Agent != nil {
		a := *u.Agent
		c.Agent = &a
	}
	return c
}

// ErrNoUser is returned by mutations of unknown users.
var ErrNoUser = errors.New("zoomfake: no such user")

// Account is one fake Zoom account and its users.
type Account struct {
	srv  *Server
	spec AccountSpec

	mu      sync.Mutex
	users   []*User // creation order (seq ascending); deleted users stay, flagged
	byID    map[string]*User
	byEmail map[string]*User
	nextSeq int
	// gen counts mutations; counts caches total_records per listing for the
	// generation it was computed at, so a pass is not O(users) per page.
	gen    int
	counts map[string][2]int // listing → {gen, count}
}

func newAccount(s *Server, spec AccountSpec) *Account {
	a := &Account{srv: s, spec: spec, byID: map[string]*User{}, byEmail: map[string]*User{}, counts: map[string][2]int{}}
	created := s.clock.Now().Add(-365 * 24 * time.Hour)
	for i := spec.FirstUser + 1; i <= spec.FirstUser+spec.Users; i++ {
		u := generateUser(spec.ID, i)
		u.CreatedAt = created
		a.insert(u)
	}
	return a
}

// ID of the account.
func (a *Account) ID() string { return a.spec.ID }

// Spec returns the account's spec (its secrets included: tests need them).
func (a *Account) Spec() AccountSpec { return a.spec }

func (a *Account) insert(u *User) {
	a.gen++
	u.seq = a.nextSeq
	a.nextSeq++
	a.users = append(a.users, u)
	a.byID[u.ID] = u
	a.byEmail[strings.ToLower(u.Email)] = u
}

func (a *Account) lookup(idOrEmail string) *User {
	u := a.byID[idOrEmail]
	if u == nil {
		u = a.byEmail[strings.ToLower(idOrEmail)]
	}
	if u == nil || u.deleted {
		return nil
	}
	return u
}

// Users returns a snapshot of the live users.
func (a *Account) Users() []User {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]User, 0, len(a.users))
	for _, u := range a.users {
		if !u.deleted {
			out = append(out, u.clone())
		}
	}
	return out
}

// User returns one live user by id or email.
func (a *Account) User(idOrEmail string) (User, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.lookup(idOrEmail)
	if u == nil {
		return User{}, false
	}
	return u.clone(), true
}

// CreateUser adds a user; an empty ID gets a fresh one, an empty status is
// active, an empty presence Available (Offline unless active).
func (a *Account) CreateUser(u User) User {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u.ID == "" {
		u.ID = UserIDFor(a.spec.ID, 1_000_000_000+a.nextSeq)
	}
	if u.Status == "" {
		u.Status = "active"
	}
	if u.Presence == "" {
		u.Presence = "Available"
		if u.Status != "active" {
			u.Presence = "Offline"
		}
	}
	if u.Type == 0 {
		u.Type = 2
	}
	u.CreatedAt = a.srv.clock.Now()
	nu := u.clone()
	a.insert(&nu)
	return nu.clone()
}

// UpdateUser changes a user in place (id changes are not allowed).
func (a *Account) UpdateUser(id string, fn func(*User)) (User, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.lookup(id)
	if u == nil {
		return User{}, ErrNoUser
	}
	oldEmail, oldID := strings.ToLower(u.Email), u.ID
	a.gen++
	fn(u)
	u.ID = oldID
	if e := strings.ToLower(u.Email); e != oldEmail {
		delete(a.byEmail, oldEmail)
		a.byEmail[e] = u
	}
	return u.clone(), nil
}

// DeleteUser removes a user: it is no longer listed and reads answer 1001.
func (a *Account) DeleteUser(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.lookup(id)
	if u == nil {
		return ErrNoUser
	}
	a.gen++
	u.deleted = true
	delete(a.byID, u.ID)
	delete(a.byEmail, strings.ToLower(u.Email))
	return nil
}

// SetStatus activates or deactivates a user.
func (a *Account) SetStatus(id, status string) error {
	if status != "active" && status != "inactive" {
		return fmt.Errorf("zoomfake: status %q: want active or inactive", status)
	}
	_, err := a.UpdateUser(id, func(u *User) {
		u.Status = status
		if status == "inactive" {
			u.Presence = "Offline"
		}
	})
	return err
}

// SetPresence sets a user's presence; REST or webhook spellings are both
// accepted and stored in the webhook spelling.
func (a *Account) SetPresence(id, zoomStatus string) error {
	ws, ok := toWebhookSpelling(zoomStatus)
	if !ok {
		return fmt.Errorf("zoomfake: unknown presence %q", zoomStatus)
	}
	_, err := a.UpdateUser(id, func(u *User) { u.Presence = ws })
	return err
}

// SetAgentStatus sets a Contact Center agent's status.
func (a *Account) SetAgentStatus(id, statusID, statusName string) error {
	var err error
	_, uerr := a.UpdateUser(id, func(u *User) {
		if u.Agent == nil {
			err = fmt.Errorf("zoomfake: %s is not a Contact Center agent", id)
			return
		}
		u.Agent.StatusID, u.Agent.StatusName = statusID, statusName
	})
	if uerr != nil {
		return uerr
	}
	return err
}

var webhookToREST = map[string]string{
	"Available": "Available", "Away": "Away", "Do_Not_Disturb": "Do_Not_Disturb",
	"In_Meeting": "In_A_Zoom_Meeting", "Presenting": "Presenting", "On_Phone_Call": "On_A_Call",
	"In_Calendar_Event": "In_Calendar_Event", "Offline": "Offline", "Busy": "Busy",
	"Mobile_signed_in": "Available", "Out_of_Office": "Out_of_Office",
}

func toWebhookSpelling(s string) (string, bool) {
	if _, ok := webhookToREST[s]; ok {
		return s, true
	}
	for w, r := range webhookToREST {
		if r == s && w != "Mobile_signed_in" {
			return w, true
		}
	}
	switch s {
	case "In_A_Meeting":
		return "In_Meeting", true
	case "In_A_Call":
		return "On_Phone_Call", true
	case "In_A_Calendar_Event":
		return "In_Calendar_Event", true
	}
	return "", false
}

// cursor is what a next_page_token stands for.
type cursor struct {
	account string
	query   string // listing identity: path, filters and page size
	lastSeq int
	expiry  time.Time
}

// page returns up to size users after lastSeq that match keep, and
// whether more remain.
func (a *Account) page(lastSeq, size int, keep func(*User) bool) ([]User, int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := sort.Search(len(a.users), func(i int) bool { return a.users[i].seq > lastSeq })
	out := make([]User, 0, size)
	last := lastSeq
	for i := start; i < len(a.users); i++ {
		u := a.users[i]
		if u.deleted || !keep(u) {
			continue
		}
		if len(out) == size {
			return out, last, true
		}
		out = append(out, u.clone())
		last = u.seq
	}
	return out, last, false
}

// count is how many live users keep selects; listing names the selection
// for the cache.
func (a *Account) count(listing string, keep func(*User) bool) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.counts[listing]; ok && c[0] == a.gen {
		return c[1]
	}
	n := a.countLocked(keep)
	a.counts[listing] = [2]int{a.gen, n}
	return n
}

func (a *Account) countLocked(keep func(*User) bool) int {
	n := 0
	for _, u := range a.users {
		if !u.deleted && keep(u) {
			n++
		}
	}
	return n
}

// paginate serves one page of a listing with Zoom's token semantics.
// badTokenCode is 300 for /users and 400 for /phone/users.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, a *Account, query string, defSize, maxSize, badTokenCode int,
	keep func(*User) bool) (users []User, next string, size int, ok bool) {
	size = defSize
	if v := r.URL.Query().Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 300, "message": "Validation Failed.",
				"errors": []map[string]string{{"field": "page_size", "message": "Invalid field."}}})
			return nil, "", 0, false
		}
		size = min(n, maxSize)
	}
	query = fmt.Sprintf("%s|size=%d", query, size)
	lastSeq := -1
	tok := r.URL.Query().Get("next_page_token")
	if tok != "" {
		s.mu.Lock()
		c := s.pageTokens[tok]
		valid := c != nil && c.account == a.spec.ID && c.query == query && s.clock.Now().Before(c.expiry)
		if c != nil && !valid {
			delete(s.pageTokens, tok)
		}
		if !valid {
			s.stats.PageTokenErrors++
		}
		s.mu.Unlock()
		if !valid {
			msg := "The next page token is invalid or expired."
			writeError(w, http.StatusBadRequest, badTokenCode, msg)
			return nil, "", 0, false
		}
		lastSeq = c.lastSeq
	}
	s.mu.Lock()
	repeat, endless := s.faults.RepeatPageToken, s.faults.EndlessPages
	s.mu.Unlock()
	users, last, more := a.page(lastSeq, size, keep)
	switch {
	case repeat && tok != "":
		// The fault: the same token again, so the same page again.
		w.Header().Set(FaultHeader, "repeat page token")
		return users, tok, size, true
	case endless && !more:
		// The fault: past the last page, a token that starts over.
		w.Header().Set(FaultHeader, "endless pages")
		more, last = true, -1
	}
	if more {
		next = randomHex(16)
		s.mu.Lock()
		if len(s.pageTokens) >= 10_000 {
			// Tokens nobody came back for: drop the expired ones, so a
			// long demo does not keep every token it ever issued.
			now := s.clock.Now()
			for t, c := range s.pageTokens {
				if !now.Before(c.expiry) {
					delete(s.pageTokens, t)
				}
			}
		}
		s.pageTokens[next] = &cursor{account: a.spec.ID, query: query, lastSeq: last, expiry: s.clock.Now().Add(s.opts.PageTokenTTL)}
		s.mu.Unlock()
	}
	return users, next, size, true
}

// listUsers serves a {next_page_token, page_size, total_records, users}
// listing of the users keep selects, each rendered by toJSON.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, a *Account, query string, defSize, maxSize, badTokenCode int,
	keep func(*User) bool, toJSON func(*User) map[string]any) {
	users, next, size, ok := s.paginate(w, r, a, query, defSize, maxSize, badTokenCode, keep)
	if !ok {
		return
	}
	out := make([]map[string]any, len(users))
	for i := range users {
		out[i] = toJSON(&users[i])
	}
	s.writeOK(w, map[string]any{"next_page_token": next, "page_size": size,
		"total_records": a.count(query, keep), "users": out})
}
