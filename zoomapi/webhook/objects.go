package webhook

import (
	"encoding/json"

	"github.com/zoomsync/zoomsync/zoomapi/zoomjson"
)

// UserFields are the user attributes Zoom puts in user.* event objects.
// In user.updated only id and the changed fields are present; see
// UserEvent.Changed.
type UserFields struct {
	ID               string          `json:"id"`
	Email            string          `json:"email,omitempty"`
	FirstName        string          `json:"first_name,omitempty"`
	LastName         string          `json:"last_name,omitempty"`
	DisplayName      string          `json:"display_name,omitempty"`
	Type             zoomjson.Int    `json:"type,omitempty"`
	Dept             string          `json:"dept,omitempty"`
	Timezone         string          `json:"timezone,omitempty"`
	Company          string          `json:"company,omitempty"`
	PhoneNumber      zoomjson.String `json:"phone_number,omitempty"`
	PhoneCountry     string          `json:"phone_country,omitempty"`
	Language         string          `json:"language,omitempty"`
	RoleName         string          `json:"role,omitempty"`
	PMI              zoomjson.Int    `json:"pmi,omitempty"`
	PicURL           string          `json:"pic_url,omitempty"`
	PrimaryGroupID   string          `json:"primary_group_id,omitempty"`
	EmployeeUniqueID string          `json:"employee_unique_id,omitempty"`
}

// UserEvent is the object of user.created, user.updated, user.deleted,
// user.deactivated, user.activated, user.disassociated,
// user.invitation_accepted and user.settings_updated.
type UserEvent struct {
	User UserFields
	// Changed lists the object's keys other than "id": for user.updated,
	// the fields that changed (the event is partial).
	Changed []string
	// Old holds old_object (user.updated, user.settings_updated), nil when
	// absent.
	Old *UserFields
	// Settings is object.settings for user.settings_updated.
	Settings     json.RawMessage
	Operator     string
	OperatorID   string
	CreationType string // user.created: create, ssoCreate, autoCreate, custCreate
}

// SignInEvent is the object of user.signed_in and user.signed_out.
type SignInEvent struct {
	ID         string          `json:"id"`
	Email      string          `json:"email"`
	DateTime   zoomjson.Time   `json:"date_time"`
	ClientType string          `json:"client_type"`
	Version    string          `json:"version"`
	LoginType  zoomjson.String `json:"login_type"`
}

// PresenceEvent is the object of user.presence_status_updated.
// PresenceStatus is the aggregate over the user's devices and keeps Zoom's
// webhook spelling (package presence normalises it).
type PresenceEvent struct {
	ID             string        `json:"id"`
	Email          string        `json:"email"`
	DateTime       zoomjson.Time `json:"date_time"`
	PresenceStatus string        `json:"presence_status"`
	App            *AppPresence  `json:"app,omitempty"`
}

// AppPresence is the per-device status Zoom adds beside the aggregate.
type AppPresence struct {
	Type           string `json:"type"` // desktop, mobile, pad, pzr
	PresenceStatus string `json:"presence_status"`
}

// UnmarshalJSON accepts Zoom's example key "date-time" as well as the
// schema's "date_time".
func (p *PresenceEvent) UnmarshalJSON(b []byte) error { return p.decode(b) }

func (p *PresenceEvent) decode(b []byte) error {
	type plain PresenceEvent
	var v struct {
		plain
		DateTimeDash zoomjson.Time `json:"date-time"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = PresenceEvent(v.plain)
	if p.DateTime.IsZero() {
		p.DateTime = v.DateTimeDash
	}
	return nil
}

// PersonalNotesEvent is the object of user.personal_notes_updated.
type PersonalNotesEvent struct {
	ID            string        `json:"id"`
	Email         string        `json:"email"`
	DateTime      zoomjson.Time `json:"date_time"`
	PersonalNotes string        `json:"personal_notes"`
}

// CallParty is the caller, callee or forwarder of a phone call.
type CallParty struct {
	ExtensionID     string          `json:"extension_id,omitempty"`
	ExtensionType   string          `json:"extension_type,omitempty"`
	ExtensionNumber zoomjson.String `json:"extension_number,omitempty"` // int in caller/callee, string in forwarded_by
	PhoneNumber     string          `json:"phone_number,omitempty"`
	UserID          string          `json:"user_id,omitempty"` // absent for external parties
	Name            string          `json:"name,omitempty"`
	Timezone        string          `json:"timezone,omitempty"`
	DeviceType      string          `json:"device_type,omitempty"`
	DeviceID        string          `json:"device_id,omitempty"`
	ConnectionType  string          `json:"connection_type,omitempty"`
}

// CallEvent is the object of phone.caller_* and phone.callee_* events.
type CallEvent struct {
	CallID              zoomjson.String `json:"call_id"`
	Caller              CallParty       `json:"caller"`
	Callee              CallParty       `json:"callee"`
	ForwardedBy         *CallParty      `json:"forwarded_by,omitempty"`
	RedirectForwardedBy *CallParty      `json:"redirect_forwarded_by,omitempty"`
	RingingStartTime    zoomjson.Time   `json:"ringing_start_time"`
	ConnectedStartTime  zoomjson.Time   `json:"connected_start_time"`
	AnswerStartTime     zoomjson.Time   `json:"answer_start_time"`
	CallEndTime         zoomjson.Time   `json:"call_end_time"`
	HandupResult        string          `json:"handup_result,omitempty"`
	DeviceName          string          `json:"device_name,omitempty"`
}

// AgentStatusEvent is the object of contact_center.user_status_changed.
type AgentStatusEvent struct {
	UserID                string          `json:"user_id"`
	DisplayName           string          `json:"display_name"`
	UserEmail             string          `json:"user_email"`
	PreviousStatusID      zoomjson.String `json:"previous_status_id"`
	PreviousStatusName    string          `json:"previous_status_name"`
	PreviousSubStatusID   zoomjson.String `json:"previous_sub_status_id"`
	PreviousSubStatusName string          `json:"previous_sub_status_name"`
	CurrentStatusID       zoomjson.String `json:"current_status_id"`
	CurrentStatusName     string          `json:"current_status_name"`
	CurrentSubStatusID    zoomjson.String `json:"current_sub_status_id"`
	CurrentSubStatusName  string          `json:"current_sub_status_name"`
	DateTime              zoomjson.Time   `json:"date_time_ms"` // an ISO string despite the name
}

// AgentEvent is the object of contact_center.user_login, user_logout,
// user_opt_in, user_opt_out, queue_agent_assigned and
// queue_agent_unassigned (queue fields empty where absent).
type AgentEvent struct {
	UserID      string          `json:"user_id"`
	DisplayName string          `json:"display_name"`
	UserEmail   string          `json:"user_email"`
	CCQueueID   zoomjson.String `json:"cc_queue_id,omitempty"`
	QueueName   string          `json:"queue_name,omitempty"`
	DateTime    zoomjson.Time   `json:"date_time_ms"`
}

// AgentFields are the Contact Center user attributes of
// contact_center.user_created and the updates of user_updated.
type AgentFields struct {
	UserID        string          `json:"user_id,omitempty"`
	DisplayName   string          `json:"display_name,omitempty"`
	UserEmail     string          `json:"user_email,omitempty"`
	RoleID        string          `json:"role_id,omitempty"`
	RoleName      string          `json:"role_name,omitempty"`
	StatusID      zoomjson.String `json:"status_id,omitempty"`
	StatusName    string          `json:"status_name,omitempty"`
	SubStatusID   zoomjson.String `json:"sub_status_id,omitempty"`
	SubStatusName string          `json:"sub_status_name,omitempty"`
	UserAccess    string          `json:"user_access,omitempty"`
	DateTime      zoomjson.Time   `json:"date_time_ms"`
}

// AgentUpdatedEvent is the object of contact_center.user_updated.
type AgentUpdatedEvent struct {
	UserID   string        `json:"user_id"`
	Updates  AgentFields   `json:"updates"`
	DateTime zoomjson.Time `json:"date_time_ms"`
}

// AgentsDeletedEvent is the object of contact_center.user_deleted.
type AgentsDeletedEvent struct {
	Users []struct {
		UserID string `json:"user_id"`
	} `json:"users"`
	DateTime zoomjson.Time `json:"date_time_ms"`
}
