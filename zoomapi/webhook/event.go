package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/zoomapi/zoomjson"
)

// ErrMalformed is returned for bodies that are not a JSON object with a
// non-empty "event" (answer 400).
var ErrMalformed = errs.E("webhook.Decode", errs.Invalid, errors.New("malformed event: want a JSON object with an \"event\" name"))

// Event is one decoded webhook delivery.
type Event struct {
	Name      string // e.g. user.presence_status_updated
	TS        int64  // event_ts: when the event happened, Unix milliseconds
	AccountID string // payload.account_id
	// Object is the typed payload.object: *UserEvent, *SignInEvent,
	// *PresenceEvent, *PersonalNotesEvent, *CallEvent, *AgentStatusEvent,
	// *AgentEvent, *AgentFields (contact_center.user_created),
	// *AgentUpdatedEvent, *AgentsDeletedEvent, *URLValidationRequest; nil for
	// unknown events or an object of an unexpected shape (see ObjectErr).
	Object any
	// ObjectErr says why a known event's object could not be typed. The
	// event is still valid: its raw body is kept and it is accepted.
	ObjectErr error
	// Raw is the exact body received.
	Raw []byte
}

// URLValidationRequest is the payload of endpoint.url_validation.
type URLValidationRequest struct {
	PlainToken string `json:"plainToken"`
}

type envelope struct {
	Event   *string         `json:"event"`
	EventTS zoomjson.Int    `json:"event_ts"`
	Payload json.RawMessage `json:"payload"`
}

// headEnvelope is the envelope with its payload's head decoded in the
// same pass (Decode's fast path: one scan of the body instead of two).
type headEnvelope struct {
	Event   *string      `json:"event"`
	EventTS zoomjson.Int `json:"event_ts"`
	Payload *payloadHead `json:"payload"`
}

type payloadHead struct {
	AccountID    string          `json:"account_id"`
	Object       json.RawMessage `json:"object"`
	OldObject    json.RawMessage `json:"old_object"`
	Operator     string          `json:"operator"`
	OperatorID   string          `json:"operator_id"`
	CreationType string          `json:"creation_type"`
	PlainToken   string          `json:"plainToken"`
}

// Decode parses a webhook body. It fails only when the body is not a JSON
// object with a non-empty string "event"; everything else decodes leniently.
func Decode(body []byte) (*Event, error) {
	// Fast path: the envelope and the payload's head in one pass. Any
	// error (a payload that is not an object, a field of another type)
	// takes the two-pass path below, whose answers are the contract.
	var fast headEnvelope
	if err := json.Unmarshal(body, &fast); err == nil && fast.Event != nil && strings.TrimSpace(*fast.Event) != "" {
		ev := &Event{Name: *fast.Event, TS: int64(fast.EventTS), Raw: body}
		var head payloadHead
		if fast.Payload != nil {
			head = *fast.Payload
		}
		ev.AccountID = head.AccountID
		ev.Object, ev.ObjectErr = decodeObject(ev.Name, head)
		return ev, nil
	}
	return decodeTwoPass(body)
}

// decodeTwoPass is Decode's envelope first, then the payload's head.
func decodeTwoPass(body []byte) (*Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if env.Event == nil || strings.TrimSpace(*env.Event) == "" {
		return nil, ErrMalformed
	}
	ev := &Event{Name: *env.Event, TS: int64(env.EventTS), Raw: body}
	var head payloadHead
	if len(env.Payload) > 0 && string(env.Payload) != "null" {
		if err := json.Unmarshal(env.Payload, &head); err != nil {
			ev.ObjectErr = fmt.Errorf("payload: %v", err)
			return ev, nil
		}
	}
	ev.AccountID = head.AccountID
	ev.Object, ev.ObjectErr = decodeObject(ev.Name, head)
	return ev, nil
}

func decodeObject(name string, head payloadHead) (any, error) {
	if name == EventURLValidation {
		return &URLValidationRequest{PlainToken: head.PlainToken}, nil
	}
	newObject, ok := objectTypes[name]
	if !ok {
		if strings.HasPrefix(name, "phone.caller_") || strings.HasPrefix(name, "phone.callee_") {
			newObject = func() any { return new(CallEvent) }
		} else {
			return nil, nil
		}
	}
	if len(head.Object) == 0 || string(head.Object) == "null" {
		return nil, fmt.Errorf("%s: payload has no object", name)
	}
	if newObject == nil { // user.* events share one richer shape
		ue, err := decodeUserEvent(head)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return ue, nil
	}
	obj := newObject()
	unmarshal := json.Unmarshal
	if d, ok := obj.(selfDecoder); ok {
		unmarshal = func(b []byte, _ any) error { return d.decode(b) } // one pass, not Unmarshal's and then UnmarshalJSON's
	}
	if err := unmarshal(head.Object, obj); err != nil {
		return nil, fmt.Errorf("%s object: %v", name, err)
	}
	return obj, nil
}

// selfDecoder is an object whose UnmarshalJSON is a json.Unmarshal of
// its own: decode is that, called directly.
type selfDecoder interface{ decode([]byte) error }

// objectTypes maps event names to their object's type; nil means UserEvent.
var objectTypes = map[string]func() any{
	"user.created":                          nil,
	"user.updated":                          nil,
	"user.deleted":                          nil,
	"user.deactivated":                      nil,
	"user.activated":                        nil,
	"user.disassociated":                    nil,
	"user.invitation_accepted":              nil,
	"user.settings_updated":                 nil,
	"user.signed_in":                        func() any { return new(SignInEvent) },
	"user.signed_out":                       func() any { return new(SignInEvent) },
	"user.presence_status_updated":          func() any { return new(PresenceEvent) },
	"user.personal_notes_updated":           func() any { return new(PersonalNotesEvent) },
	"contact_center.user_status_changed":    func() any { return new(AgentStatusEvent) },
	"contact_center.user_login":             func() any { return new(AgentEvent) },
	"contact_center.user_logout":            func() any { return new(AgentEvent) },
	"contact_center.user_opt_in":            func() any { return new(AgentEvent) },
	"contact_center.user_opt_out":           func() any { return new(AgentEvent) },
	"contact_center.queue_agent_assigned":   func() any { return new(AgentEvent) },
	"contact_center.queue_agent_unassigned": func() any { return new(AgentEvent) },
	"contact_center.user_created":           func() any { return new(AgentFields) },
	"contact_center.user_updated":           func() any { return new(AgentUpdatedEvent) },
	"contact_center.user_deleted":           func() any { return new(AgentsDeletedEvent) },
}

// profileEvents change a user's profile: what the user's link to a
// directory entry is computed from.
var profileEvents = map[string]bool{"user.created": true, "user.updated": true, "user.activated": true,
	"user.deactivated": true, "user.deleted": true, "user.disassociated": true, "user.invitation_accepted": true}

// ChangesProfile reports whether the event name changes a user's profile
// (so the mapping links the user again).
func ChangesProfile(name string) bool { return profileEvents[name] }

func decodeUserEvent(head payloadHead) (*UserEvent, error) {
	ue := &UserEvent{Operator: head.Operator, OperatorID: head.OperatorID, CreationType: head.CreationType}
	if err := json.Unmarshal(head.Object, &ue.User); err != nil {
		return nil, fmt.Errorf("user object: %v", err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(head.Object, &keys); err != nil {
		return nil, fmt.Errorf("user object: %v", err)
	}
	for k := range keys {
		if k != "id" {
			ue.Changed = append(ue.Changed, k)
		}
	}
	slices.Sort(ue.Changed)
	ue.Settings = keys["settings"]
	if len(head.OldObject) > 0 && string(head.OldObject) != "null" {
		ue.Old = new(UserFields)
		if err := json.Unmarshal(head.OldObject, ue.Old); err != nil {
			return nil, fmt.Errorf("user old_object: %v", err)
		}
	}
	return ue, nil
}

// UserID returns the Zoom user id the event is about, or "" when it names
// none (unknown events, external phone parties, CC batch deletions). For
// phone events it is the account's own party: the caller of phone.caller_*
// and the callee of phone.callee_*.
func (e *Event) UserID() string {
	switch o := e.Object.(type) {
	case *UserEvent:
		return o.User.ID
	case *SignInEvent:
		return o.ID
	case *PresenceEvent:
		return o.ID
	case *PersonalNotesEvent:
		return o.ID
	case *CallEvent:
		if strings.HasPrefix(e.Name, "phone.caller_") {
			return o.Caller.UserID
		}
		return o.Callee.UserID
	case *AgentStatusEvent:
		return o.UserID
	case *AgentEvent:
		return o.UserID
	case *AgentFields:
		return o.UserID
	case *AgentUpdatedEvent:
		return o.UserID
	}
	return ""
}
