package presence

import "strings"

// AgentStatus is a Contact Center agent status: one of the system statuses
// below, or the name of an account-defined custom status.
type AgentStatus string

// System agent statuses (SPEC §5). Zoom identifies them by string ids
// "0".."3"; id "4" and any other id are custom statuses.
const (
	AgentOffline  AgentStatus = "offline"
	AgentReady    AgentStatus = "ready"
	AgentNotReady AgentStatus = "not_ready"
	AgentOccupied AgentStatus = "occupied"
)

var agentByID = map[string]AgentStatus{
	"0": AgentOffline,
	"1": AgentReady,
	"2": AgentNotReady,
	"3": AgentOccupied,
}

var agentByName = map[string]AgentStatus{
	"offline":  AgentOffline,
	"ready":    AgentReady,
	"notready": AgentNotReady,
	"occupied": AgentOccupied,
}

// ParseAgentStatus maps a Contact Center status id and name to an
// AgentStatus. System ids win over names (names are localisable and can be
// renamed by an admin); an unknown id falls back to a system name, and
// otherwise the status is custom and carried by its trimmed name. Both
// empty gives "".
func ParseAgentStatus(id, name string) AgentStatus {
	if s, ok := agentByID[strings.TrimSpace(id)]; ok {
		return s
	}
	if s, ok := agentByName[foldSpelling(name)]; ok {
		return s
	}
	return AgentStatus(strings.TrimSpace(name))
}

// IsSystem reports whether a is one of the four system statuses.
func (a AgentStatus) IsSystem() bool {
	switch a {
	case AgentOffline, AgentReady, AgentNotReady, AgentOccupied:
		return true
	}
	return false
}

// AgentStatusID returns Zoom's status id for a system status, for writing
// it back through PATCH /contact_center/users/{id}/status.
func AgentStatusID(a AgentStatus) (string, bool) {
	for id, s := range agentByID {
		if s == a {
			return id, true
		}
	}
	return "", false
}
