package graphfake

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"time"
)

// Application permissions (Graph's app roles).
const (
	PresenceReadWriteAll = "Presence.ReadWrite.All"
	PresenceReadAll      = "Presence.Read.All"
	UserReadAll          = "User.Read.All"
)

// Tenant is one Entra ID tenant: its apps, users and their presence.
type Tenant struct {
	s     *Server
	id    string
	apps  map[string]*app             // by client id
	users map[string]*user            // by object id
	byUPN map[string]*user            // lower-case UPN
	by    map[string]map[string]*user // filterable property → lower-case value → user
}

type app struct {
	clientID string
	secret   string
	thumbs   map[string]*x509.Certificate // x5t and x5t#S256 → certificate
	roles    map[string]bool              // consented application permissions
}

// AppSpec registers an application.
type AppSpec struct {
	ClientID    string
	Secret      string            // "": no secret credential
	Certificate *x509.Certificate // nil: no certificate credential
	Roles       []string          // consented application permissions
}

// UserSpec creates a user.
type UserSpec struct {
	ID                string // object id (a GUID)
	UserPrincipalName string
	Mail              string
	ImmutableID       string // onPremisesImmutableId (synced users)
	DisplayName       string
}

type user struct {
	spec     UserSpec
	presence presenceState
}

// AddTenant creates (or returns) a tenant.
func (s *Server) AddTenant(id string) *Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tenants[strings.ToLower(id)]; ok {
		return t
	}
	t := &Tenant{s: s, id: id, apps: map[string]*app{}, users: map[string]*user{}, byUPN: map[string]*user{},
		by: map[string]map[string]*user{"mail": {}, "onpremisesimmutableid": {}}}
	s.tenants[strings.ToLower(id)] = t
	return t
}

// ID is the tenant id.
func (t *Tenant) ID() string { return t.id }

// AddApp registers an application with its credentials and consented
// permissions.
func (t *Tenant) AddApp(spec AppSpec) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	a := &app{clientID: spec.ClientID, secret: spec.Secret, thumbs: map[string]*x509.Certificate{}, roles: map[string]bool{}}
	if c := spec.Certificate; c != nil {
		s1 := sha1.Sum(c.Raw)
		s256 := sha256.Sum256(c.Raw)
		a.thumbs[b64url(s1[:])] = c
		a.thumbs[b64url(s256[:])] = c
	}
	for _, r := range spec.Roles {
		a.roles[r] = true
	}
	t.apps[strings.ToLower(spec.ClientID)] = a
}

// SetConsent replaces an app's consented permissions (nil: consent
// revoked). Tokens issued before keep what they carried until they
// expire.
func (t *Tenant) SetConsent(clientID string, roles ...string) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if a := t.apps[strings.ToLower(clientID)]; a != nil {
		a.roles = map[string]bool{}
		for _, r := range roles {
			a.roles[r] = true
		}
	}
}

// SetSecret replaces an app's client secret (a rotation or a revocation).
func (t *Tenant) SetSecret(clientID, secret string) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if a := t.apps[strings.ToLower(clientID)]; a != nil {
		a.secret = secret
	}
}

// AddUser creates a user.
func (t *Tenant) AddUser(spec UserSpec) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	u := &user{spec: spec}
	t.users[strings.ToLower(spec.ID)] = u
	if spec.UserPrincipalName != "" {
		t.byUPN[strings.ToLower(spec.UserPrincipalName)] = u
	}
	if spec.Mail != "" {
		t.by["mail"][strings.ToLower(spec.Mail)] = u
	}
	if spec.ImmutableID != "" {
		// Immutable ids are base64: compared as given.
		t.by["onpremisesimmutableid"][spec.ImmutableID] = u
	}
}

// RemoveUser deletes a user (and its presence).
func (t *Tenant) RemoveUser(id string) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	u := t.users[strings.ToLower(id)]
	if u == nil {
		return
	}
	delete(t.users, strings.ToLower(id))
	delete(t.byUPN, strings.ToLower(u.spec.UserPrincipalName))
	delete(t.by["mail"], strings.ToLower(u.spec.Mail))
	delete(t.by["onpremisesimmutableid"], u.spec.ImmutableID)
}

// userByKey finds a user by object id or UPN (GET /users/{id | upn}).
func (t *Tenant) userByKey(key string, upnToo bool) *user {
	if u := t.users[strings.ToLower(key)]; u != nil {
		return u
	}
	if upnToo {
		return t.byUPN[strings.ToLower(key)]
	}
	return nil
}

// Presence is what a user shows in Teams, as GET /users/{id}/presence
// answers.
type Presence struct {
	Availability string
	Activity     string
}

// Presence returns a user's aggregated presence now.
func (t *Tenant) Presence(userID string) Presence {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	u := t.users[strings.ToLower(userID)]
	if u == nil {
		return Presence{"PresenceUnknown", "PresenceUnknown"}
	}
	return u.presence.aggregate(t.s.clock.Now())
}

// AppSession is an app's presence session for a user.
type AppSession struct {
	Availability, Activity string
	SetAt, Expires         time.Time
}

// AppSession returns the app's live session for a user (false: none).
func (t *Tenant) AppSession(userID, clientID string) (AppSession, bool) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	u := t.users[strings.ToLower(userID)]
	if u == nil {
		return AppSession{}, false
	}
	now := t.s.clock.Now()
	u.presence.expire(now)
	a, ok := u.presence.apps[strings.ToLower(clientID)]
	if !ok {
		return AppSession{}, false
	}
	return AppSession{Availability: a.availability, Activity: a.activity, SetAt: a.setAt, Expires: a.expires}, true
}

// AppSessions counts the live app sessions of the tenant (all apps).
func (t *Tenant) AppSessions() int {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	now, n := t.s.clock.Now(), 0
	for _, u := range t.users {
		u.presence.expire(now)
		n += len(u.presence.apps)
	}
	return n
}

// SetClientSession simulates one of the user's own Teams clients (desktop,
// mobile, web) showing a state; an empty availability ends that session.
func (t *Tenant) SetClientSession(userID, session, availability, activity string) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	u := t.users[strings.ToLower(userID)]
	if u == nil {
		return
	}
	u.presence.setClient(session, availability, activity, t.s.clock.Now())
}

// SetUserChoice simulates the user picking a state in Teams (the
// preferred presence, as the user sets it); empty availability: "Reset
// status".
func (t *Tenant) SetUserChoice(userID, availability, activity string, expires time.Duration) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	u := t.users[strings.ToLower(userID)]
	if u == nil {
		return
	}
	now := t.s.clock.Now()
	if availability == "" {
		u.presence.preferred = nil
		return
	}
	u.presence.preferred = &preferred{availability: availability, activity: activity, expires: now.Add(expires)}
}
