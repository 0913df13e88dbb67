package graphapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Pair is an availability and an activity, as Graph writes presence.
type Pair struct {
	Availability string `json:"availability"`
	Activity     string `json:"activity"`
}

func (p Pair) String() string { return p.Availability + "/" + p.Activity }

// ParsePair reads "Availability/Activity".
func ParsePair(s string) (Pair, bool) {
	a, b, ok := strings.Cut(s, "/")
	if !ok || a == "" || b == "" || strings.Contains(b, "/") {
		return Pair{}, false
	}
	return Pair{a, b}, true
}

// SessionPairs are the pairs setPresence takes (an app's session).
var SessionPairs = []Pair{
	{"Available", "Available"},
	{"Busy", "InACall"},
	{"Busy", "InAConferenceCall"},
	{"Away", "Away"},
	{"DoNotDisturb", "Presenting"},
}

// PreferredPairs are the pairs setUserPreferredPresence takes.
var PreferredPairs = []Pair{
	{"Available", "Available"},
	{"Busy", "Busy"},
	{"DoNotDisturb", "DoNotDisturb"},
	{"BeRightBack", "BeRightBack"},
	{"Away", "Away"},
	{"Offline", "OffWork"},
}

// Bounds of a session's expirationDuration.
const (
	MinExpiration = 5 * time.Minute
	MaxExpiration = 4 * time.Hour
)

// isoDuration writes d as an ISO 8601 duration (PT1H30M).
func isoDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	out := "PT"
	if h > 0 {
		out += fmt.Sprintf("%dH", h)
	}
	if m > 0 {
		out += fmt.Sprintf("%dM", m)
	}
	if s > 0 || out == "PT" {
		out += fmt.Sprintf("%dS", s)
	}
	return out
}

func presencePath(userID, action string) string {
	return userPath(userID) + "/presence/" + action
}

// SetPresenceCall sets the app's presence session for a user (sessionId:
// the app's client id) for expiration (PT5M–PT4H).
func (c *Client) SetPresenceCall(userID string, p Pair, expiration time.Duration) (*Call, error) {
	if !slices.Contains(SessionPairs, p) {
		return nil, errorf("SetPresence", "%s is not a pair setPresence takes (%v)", p, SessionPairs)
	}
	if expiration < MinExpiration || expiration > MaxExpiration {
		return nil, errorf("SetPresence", "expiration %s is outside PT5M–PT4H", expiration)
	}
	return &Call{Op: "SetPresence", Method: http.MethodPost, Path: presencePath(userID, "setPresence"), presence: true,
		Body: map[string]string{"sessionId": c.creds.ClientID, "availability": p.Availability, "activity": p.Activity,
			"expirationDuration": isoDuration(expiration)}}, nil
}

// ClearPresenceCall ends the app's presence session for a user; a 404
// (no such session: already clear) is success.
func (c *Client) ClearPresenceCall(userID string) *Call {
	return &Call{Op: "ClearPresence", Method: http.MethodPost, Path: presencePath(userID, "clearPresence"), presence: true, gone404: true,
		Body: map[string]string{"sessionId": c.creds.ClientID}}
}

// SetPreferredPresenceCall sets the user's preferred presence (what the
// user would pick in Teams: it overrides the user's own choice).
func (c *Client) SetPreferredPresenceCall(userID string, p Pair, expiration time.Duration) (*Call, error) {
	if !slices.Contains(PreferredPairs, p) {
		return nil, errorf("SetUserPreferredPresence", "%s is not a pair setUserPreferredPresence takes (%v)", p, PreferredPairs)
	}
	body := map[string]string{"availability": p.Availability, "activity": p.Activity}
	if expiration > 0 {
		body["expirationDuration"] = isoDuration(expiration)
	}
	return &Call{Op: "SetUserPreferredPresence", Method: http.MethodPost, Path: presencePath(userID, "setUserPreferredPresence"),
		presence: true, Body: body}, nil
}

// ClearPreferredPresenceCall returns the user to automatic presence.
func (c *Client) ClearPreferredPresenceCall(userID string) *Call {
	return &Call{Op: "ClearUserPreferredPresence", Method: http.MethodPost, Path: presencePath(userID, "clearUserPreferredPresence"),
		presence: true, Body: map[string]string{}}
}

// Presence is a user's aggregated presence.
type Presence struct {
	ID           string `json:"id"`
	Availability string `json:"availability"`
	Activity     string `json:"activity"`
}

// GetPresence reads a user's aggregated presence (Presence.Read.All).
// Teams clients show changes minutes later; this reads Graph's view.
func (c *Client) GetPresence(ctx context.Context, userID string) (Presence, error) {
	var p Presence
	err := c.Do(ctx, &Call{Op: "GetPresence", Method: http.MethodGet, Path: userPath(userID) + "/presence", presence: true, Out: &p})
	return p, err
}

// SetPresence sends SetPresenceCall.
func (c *Client) SetPresence(ctx context.Context, userID string, p Pair, expiration time.Duration) error {
	call, err := c.SetPresenceCall(userID, p, expiration)
	if err != nil {
		return err
	}
	return c.Do(ctx, call)
}

// ClearPresence sends ClearPresenceCall.
func (c *Client) ClearPresence(ctx context.Context, userID string) error {
	return c.Do(ctx, c.ClearPresenceCall(userID))
}
