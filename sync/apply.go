package zsync

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

// Stored field names beyond the store's own (FieldEmail, FieldExtension,
// FieldUserStatus).
const (
	FieldFirstName        = "first_name"
	FieldLastName         = "last_name"
	FieldDisplayName      = "display_name"
	FieldType             = "type"
	FieldDept             = "dept"
	FieldEmployeeUniqueID = "employee_unique_id"
	FieldTimezone         = "timezone"
	FieldGroupIDs         = "group_ids"      // JSON array
	FieldZoomStatus       = "zoom_status"    // Zoom's spelling, as received
	FieldPresence         = "presence"       // canonical status
	FieldPresenceSince    = "presence_since" // RFC 3339
	FieldCallState        = "call_state"     // on_call while any of the user's calls is open, else idle (written by the apply script; calls.go)
	FieldCallID           = "call_id"        // the last call, in records written before calls were tracked (calls.go)
	FieldAgentStatusID    = "agent_status_id"
	FieldAgentStatusName  = "agent_status_name"
	FieldAgentStatus      = "agent_status"
	// Written by the apply script, not by writes:
	FieldStatus      = "status"       // effective status (presence.Effective)
	FieldStatusSince = "status_since" // Unix ms the effective status began
	FieldStatusSeq   = "status_seq"   // increments with every effective change
	FieldConfirmedAt = "confirmed_at" // Unix ms presence was last confirmed (webhook or REST read)
)

// lifecycle maps user.* events to the status they leave the user in.
var lifecycle = map[string]string{
	"user.created":             "active",
	"user.activated":           "active",
	"user.invitation_accepted": "active",
	"user.deactivated":         "inactive",
	"user.deleted":             StatusDeleted,
	"user.disassociated":       StatusDeleted, // moved out of this account
}

// profileFields are the user.* object fields we keep, by JSON name.
var profileFields = map[string]func(*webhook.UserFields) string{
	FieldEmail:            func(u *webhook.UserFields) string { return u.Email },
	FieldFirstName:        func(u *webhook.UserFields) string { return u.FirstName },
	FieldLastName:         func(u *webhook.UserFields) string { return u.LastName },
	FieldDisplayName:      func(u *webhook.UserFields) string { return u.DisplayName },
	FieldType:             func(u *webhook.UserFields) string { return itoa(int64(u.Type)) },
	FieldDept:             func(u *webhook.UserFields) string { return u.Dept },
	FieldTimezone:         func(u *webhook.UserFields) string { return u.Timezone },
	FieldEmployeeUniqueID: func(u *webhook.UserFields) string { return u.EmployeeUniqueID },
}

// EventWrite turns a webhook event into the write it implies, and false
// for events that change no stored fact (unknown events, sign-ins, …).
// Only the fields the event carries are written: user.updated is partial.
func EventWrite(account string, ev *webhook.Event) (Write, bool) {
	v := WebhookVersion(ev.TS)
	w := Write{Account: account, UserKey: ev.UserID()}
	add := func(name, value string) {
		w.Fields = append(w.Fields, FieldWrite{Name: name, Version: v, Value: value})
	}
	switch o := ev.Object.(type) {
	case *webhook.UserEvent:
		present := map[string]bool{}
		for _, f := range o.Changed {
			present[f] = true
		}
		for name, get := range profileFields {
			if present[name] {
				add(name, get(&o.User))
			}
		}
		if status, ok := lifecycle[ev.Name]; ok {
			add(FieldUserStatus, status)
		}
	case *webhook.PresenceEvent:
		add(FieldZoomStatus, o.PresenceStatus)
		add(FieldPresence, string(presence.ParseZoomStatus(o.PresenceStatus)))
		since := o.DateTime.Time
		if since.IsZero() {
			since = time.UnixMilli(ev.TS)
		}
		add(FieldPresenceSince, since.UTC().Format(time.RFC3339))
	case *webhook.CallEvent:
		// One fact about one call (calls.go): ending call B never ends A.
		switch {
		case strings.HasSuffix(ev.Name, "_connected") || strings.HasSuffix(ev.Name, "_answered"):
			add(CallField(callID(string(o.CallID))), CallOpen)
		case strings.HasSuffix(ev.Name, "_ended") || strings.HasSuffix(ev.Name, "_missed") || strings.HasSuffix(ev.Name, "_rejected"):
			add(CallField(callID(string(o.CallID))), CallEnded)
		default:
			return Write{}, false // ringing (or hold, …) is not a call in progress: nothing changes
		}
	case *webhook.AgentStatusEvent:
		add(FieldAgentStatusID, string(o.CurrentStatusID))
		add(FieldAgentStatusName, o.CurrentStatusName)
		add(FieldAgentStatus, string(presence.ParseAgentStatus(string(o.CurrentStatusID), o.CurrentStatusName)))
	default:
		return Write{}, false
	}
	if w.UserKey == "" || len(w.Fields) == 0 {
		return Write{}, false
	}
	return w, true
}

// PulledUserWrite is the write for one row of a full pull, versioned by the
// page's request time.
func PulledUserWrite(account string, u *zoomapi.User, requestedAt time.Time) Write {
	v := PullVersion(requestedAt)
	key := u.ID
	if key == "" {
		key = pendingKey(u.Email)
	}
	groups, _ := json.Marshal(u.GroupIDs)
	if u.GroupIDs == nil {
		groups = []byte("[]")
	}
	w := Write{Account: account, UserKey: key}
	for _, f := range [][2]string{
		{FieldEmail, u.Email}, {FieldFirstName, u.FirstName}, {FieldLastName, u.LastName},
		{FieldDisplayName, u.DisplayName}, {FieldType, itoa(int64(u.Type))}, {FieldDept, u.Dept},
		{FieldTimezone, u.Timezone}, {FieldEmployeeUniqueID, u.EmployeeUniqueID}, {FieldGroupIDs, string(groups)},
		{FieldUserStatus, u.Status},
	} {
		w.Fields = append(w.Fields, FieldWrite{Name: f[0], Version: v, Value: f[1]})
	}
	return w
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
