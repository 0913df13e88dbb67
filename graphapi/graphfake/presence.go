package graphfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SessionPairs are the availability/activity pairs setPresence takes.
var SessionPairs = []Presence{
	{"Available", "Available"},
	{"Busy", "InACall"},
	{"Busy", "InAConferenceCall"},
	{"Away", "Away"},
	{"DoNotDisturb", "Presenting"},
}

// PreferredPairs are the pairs setUserPreferredPresence takes.
var PreferredPairs = []Presence{
	{"Available", "Available"},
	{"Busy", "Busy"},
	{"DoNotDisturb", "DoNotDisturb"},
	{"BeRightBack", "BeRightBack"},
	{"Away", "Away"},
	{"Offline", "OffWork"},
}

// Expiration bounds of setPresence, and the default.
const (
	MinExpiration     = 5 * time.Minute
	MaxExpiration     = 4 * time.Hour
	DefaultExpiration = 5 * time.Minute
	// FadeAfter: an Available app session not posted again for this long
	// shows Available/AvailableInactive, and Away/Away after twice as long.
	FadeAfter = 5 * time.Minute
)

type session struct {
	availability, activity string
	setAt, expires         time.Time // expires zero: a client session (until ended)
}

type preferred struct {
	availability, activity string
	expires                time.Time
}

type presenceState struct {
	apps      map[string]*session // by lower-case client id (the sessionId)
	clients   map[string]*session // the user's own Teams clients
	preferred *preferred
	message   string
}

func (p *presenceState) expire(now time.Time) {
	for id, s := range p.apps {
		if !now.Before(s.expires) {
			delete(p.apps, id)
		}
	}
	if p.preferred != nil && !now.Before(p.preferred.expires) {
		p.preferred = nil
	}
}

func (p *presenceState) setClient(id, availability, activity string, now time.Time) {
	if availability == "" {
		delete(p.clients, id)
		return
	}
	if p.clients == nil {
		p.clients = map[string]*session{}
	}
	p.clients[id] = &session{availability: availability, activity: activity, setAt: now}
}

func rank(availability string) int {
	switch availability {
	case "DoNotDisturb":
		return 4
	case "Busy":
		return 3
	case "Available", "AvailableIdle":
		return 2
	case "Away", "BeRightBack":
		return 1
	}
	return 0
}

// shown is what an app session shows now: an Available session fades.
func (s *session) shown(now time.Time) (string, string) {
	if s.availability == "Available" && !s.expires.IsZero() {
		switch age := now.Sub(s.setAt); {
		case age >= 2*FadeAfter:
			return "Away", "Away"
		case age >= FadeAfter:
			return "Available", "AvailableInactive"
		}
	}
	return s.availability, s.activity
}

// aggregate is what the user shows: the preferred presence while a
// session exists, else the highest session (the latest among equals).
func (p *presenceState) aggregate(now time.Time) Presence {
	p.expire(now)
	if len(p.apps)+len(p.clients) == 0 {
		return Presence{"Offline", "Offline"}
	}
	if p.preferred != nil {
		return Presence{p.preferred.availability, p.preferred.activity}
	}
	var best Presence
	var bestAt time.Time
	bestRank := -1
	for _, group := range []map[string]*session{p.apps, p.clients} {
		for _, s := range group {
			a, act := s.shown(now)
			if r := rank(a); r > bestRank || (r == bestRank && s.setAt.After(bestAt)) {
				best, bestAt, bestRank = Presence{a, act}, s.setAt, r
			}
		}
	}
	return best
}

// isoDuration matches the ISO 8601 durations Graph takes (days and time
// parts; no years or months, whose length varies).
var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseDuration reads an ISO 8601 duration such as PT1H30M.
func parseDuration(s string) (time.Duration, bool) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.ParseInt(m[i+1], 10, 32)
			if err != nil {
				return 0, false
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil || f > 1e7 {
			return 0, false
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, true
}

type presenceBody struct {
	SessionID          *string `json:"sessionId"`
	Availability       string  `json:"availability"`
	Activity           string  `json:"activity"`
	ExpirationDuration *string `json:"expirationDuration"`
}

// presenceAction handles POST /users/{id}/presence/{action}.
func (s *Server) presenceAction(tok *issuedToken, userID, action string, body []byte) (*answer, []PresenceEvent) {
	t := tok.tenant
	if !tok.roles[PresenceReadWriteAll] {
		s.stats.Forbidden++
		return graphErr(http.StatusForbidden, "Forbidden", "Insufficient privileges to complete the operation."), nil
	}
	u := t.userByKey(userID, false)
	if u == nil {
		return graphErr(http.StatusNotFound, "NotFound", fmt.Sprintf("User '%s' was not found.", userID)), nil
	}
	var b presenceBody
	if action != "clearUserPreferredPresence" && action != "setStatusMessage" {
		if err := json.Unmarshal(body, &b); err != nil {
			return graphErr(http.StatusBadRequest, "BadRequest", "The request body is not a JSON object of the expected shape."), nil
		}
	}
	now := s.clock.Now()
	p := &u.presence
	p.expire(now)
	ev := PresenceEvent{Tenant: t.id, User: u.spec.ID, ClientID: tok.clientID, Action: action, At: now}
	bad := func(msg string) (*answer, []PresenceEvent) {
		return graphErr(http.StatusBadRequest, "BadRequest", msg), nil
	}
	checkSession := func() (*answer, []PresenceEvent) {
		if b.SessionID == nil || *b.SessionID == "" {
			return bad("sessionId is required.")
		}
		if !strings.EqualFold(*b.SessionID, tok.clientID) {
			return bad("sessionId must be the application (client) id of the caller.")
		}
		return nil, nil
	}
	switch action {
	case "setPresence":
		if a, _ := checkSession(); a != nil {
			return a, nil
		}
		pair := Presence{b.Availability, b.Activity}
		if !slices.Contains(SessionPairs, pair) {
			return bad(fmt.Sprintf("The availability/activity pair %s/%s is not supported.", b.Availability, b.Activity))
		}
		exp := DefaultExpiration
		if b.ExpirationDuration != nil {
			d, ok := parseDuration(*b.ExpirationDuration)
			if !ok || d < MinExpiration || d > MaxExpiration {
				return bad(fmt.Sprintf("expirationDuration %q must be an ISO 8601 duration from PT5M to PT4H.", *b.ExpirationDuration))
			}
			exp = d
		}
		if p.apps == nil {
			p.apps = map[string]*session{}
		}
		p.apps[strings.ToLower(tok.clientID)] = &session{availability: pair.Availability, activity: pair.Activity, setAt: now, expires: now.Add(exp)}
		ev.Availability, ev.Activity, ev.Expiration = pair.Availability, pair.Activity, exp
	case "clearPresence":
		if a, _ := checkSession(); a != nil {
			return a, nil
		}
		if _, ok := p.apps[strings.ToLower(tok.clientID)]; !ok {
			return graphErr(http.StatusNotFound, "NotFound", "The presence session does not exist."), nil
		}
		delete(p.apps, strings.ToLower(tok.clientID))
	case "setUserPreferredPresence":
		pair := Presence{b.Availability, b.Activity}
		if !slices.Contains(PreferredPairs, pair) {
			return bad(fmt.Sprintf("The availability/activity pair %s/%s is not supported.", b.Availability, b.Activity))
		}
		exp := 7 * 24 * time.Hour
		if pair.Availability == "Busy" || pair.Availability == "DoNotDisturb" {
			exp = 24 * time.Hour
		}
		if b.ExpirationDuration != nil {
			d, ok := parseDuration(*b.ExpirationDuration)
			if !ok || d <= 0 {
				return bad(fmt.Sprintf("expirationDuration %q must be an ISO 8601 duration.", *b.ExpirationDuration))
			}
			exp = d
		}
		p.preferred = &preferred{availability: pair.Availability, activity: pair.Activity, expires: now.Add(exp)}
		ev.Availability, ev.Activity, ev.Expiration = pair.Availability, pair.Activity, exp
	case "clearUserPreferredPresence":
		p.preferred = nil
	case "setStatusMessage":
		var m struct {
			StatusMessage *struct {
				Message *struct {
					Content     string `json:"content"`
					ContentType string `json:"contentType"`
				} `json:"message"`
			} `json:"statusMessage"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.StatusMessage == nil || m.StatusMessage.Message == nil {
			return bad("statusMessage.message is required.")
		}
		p.message = m.StatusMessage.Message.Content
	default:
		return graphErr(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", action)), nil
	}
	return &answer{status: http.StatusOK}, []PresenceEvent{ev}
}

// readPresence answers GET /users/{id}/presence.
func (s *Server) readPresence(tok *issuedToken, userID string) *answer {
	if !tok.roles[PresenceReadWriteAll] && !tok.roles[PresenceReadAll] {
		s.stats.Forbidden++
		return graphErr(http.StatusForbidden, "Forbidden", "Insufficient privileges to complete the operation.")
	}
	u := tok.tenant.userByKey(userID, false)
	if u == nil {
		return graphErr(http.StatusNotFound, "NotFound", fmt.Sprintf("User '%s' was not found.", userID))
	}
	pr := u.presence.aggregate(s.clock.Now())
	out := map[string]any{"id": u.spec.ID, "availability": pr.Availability, "activity": pr.Activity}
	if u.presence.message != "" {
		out["statusMessage"] = map[string]any{"message": map[string]string{"content": u.presence.message, "contentType": "text"}}
	}
	return ok(out)
}
