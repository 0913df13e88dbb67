package presence

// Sources are the facts a user's effective status is computed from.
type Sources struct {
	Presence   Status // Zoom presence (webhook or REST), canonical; "" when never seen
	OnCall     bool   // one of the user's Zoom Phone calls is in progress (answered or connected, not ended)
	UserStatus string // Zoom user status: active, inactive, pending, deleted
}

// Effective is the status shown and pushed for a user, in this order:
//
//  1. a user who is not active in Zoom (deactivated, deleted, or pending
//     and never signed in) is offline, whatever their last presence said;
//  2. a phone call in progress is on_call, whatever the Zoom client says
//     (the client often still says available during a call);
//  3. otherwise Zoom's presence;
//  4. unknown when nothing has been heard.
func Effective(s Sources) Status {
	switch s.UserStatus {
	case "inactive", "deleted", "pending":
		return Offline
	}
	if s.OnCall {
		return OnCall
	}
	if s.Presence.Valid() {
		return s.Presence
	}
	return Unknown
}
