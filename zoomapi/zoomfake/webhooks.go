package zoomfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Event is a webhook body ready to deliver.
type Event struct {
	Name string
	TS   int64 // event_ts, Unix milliseconds
	Body []byte
}

// event builds Zoom's envelope; extra keys go into payload beside object.
func (a *Account) event(name string, object map[string]any, extra map[string]any) Event {
	ts := a.srv.clock.Now().UnixMilli()
	payload := map[string]any{"account_id": a.spec.ID, "object": object}
	for k, v := range extra {
		payload[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // compact, no \u003c: what Zoom and its Node verifiers expect
	_ = enc.Encode(map[string]any{"event": name, "event_ts": ts, "payload": payload})
	body := bytes.TrimRight(buf.Bytes(), "\n")
	checkEvent(name, body)
	return Event{Name: name, TS: ts, Body: body}
}

// PresenceEvent sets the user's presence and returns the matching
// user.presence_status_updated (webhook spelling).
func (a *Account) PresenceEvent(userID, webhookStatus string) (Event, error) {
	if err := a.SetPresence(userID, webhookStatus); err != nil {
		return Event{}, err
	}
	u, _ := a.User(userID)
	return a.event("user.presence_status_updated", map[string]any{
		"id": u.ID, "email": u.Email, "date_time": a.srv.clock.Now().UTC().Format(time.RFC3339),
		"presence_status": u.Presence,
	}, nil), nil
}

// UserEvent returns user.created/activated/deactivated/deleted/… for the
// user's current state (for user.deleted, call it before DeleteUser).
func (a *Account) UserEvent(name, userID string) (Event, error) {
	u, ok := a.User(userID)
	if !ok {
		return Event{}, ErrNoUser
	}
	obj := map[string]any{"id": u.ID, "first_name": u.FirstName, "last_name": u.LastName, "email": u.Email, "type": u.Type}
	if name == "user.created" {
		obj["display_name"] = u.DisplayName()
		return a.event(name, obj, map[string]any{"operator": "admin@example.com", "operator_id": "admin0000000000000000", "creation_type": "create"}), nil
	}
	return a.event(name, obj, map[string]any{"operator": "admin@example.com", "operator_id": "admin0000000000000000"}), nil
}

// UserUpdatedEvent returns a partial user.updated with the changed fields
// and their old values.
func (a *Account) UserUpdatedEvent(userID string, changed, old map[string]any) Event {
	obj := map[string]any{"id": userID}
	oldObj := map[string]any{"id": userID}
	for k, v := range changed {
		obj[k] = v
	}
	for k, v := range old {
		oldObj[k] = v
	}
	ms := a.srv.clock.Now().UnixMilli()
	return a.event("user.updated", obj, map[string]any{"operator": "admin@example.com",
		"operator_id": "admin0000000000000000", "time_stamp": ms, "old_object": oldObj})
}

// CallEvent returns a phone.caller_* or phone.callee_* event in which the
// user is the caller (caller_*) or the callee (callee_*), the other party
// an external number.
func (a *Account) CallEvent(name, userID, callID string) (Event, error) {
	u, ok := a.User(userID)
	if !ok || u.Phone == nil {
		return Event{}, fmt.Errorf("zoomfake: %s has no Zoom Phone", userID)
	}
	now := a.srv.clock.Now().UTC()
	own := map[string]any{"extension_id": u.Phone.ExtensionID, "extension_type": "user",
		"extension_number": u.Phone.ExtensionNumber, "phone_number": u.Phone.Number, "user_id": u.ID,
		"name": u.DisplayName(), "timezone": u.Timezone, "device_type": "MAC_Client(6.4.0)", "connection_type": "voip"}
	external := map[string]any{"phone_number": "+12092592844", "connection_type": "pstn_off_net"}
	obj := map[string]any{"call_id": callID, "ringing_start_time": now.Add(-10 * time.Second).Format(time.RFC3339)}
	if len(name) > len("phone.caller_") && name[:len("phone.caller_")] == "phone.caller_" {
		obj["caller"], obj["callee"] = own, external
	} else {
		obj["caller"], obj["callee"] = external, own
	}
	switch name {
	case "phone.caller_connected":
		obj["connected_start_time"] = now.Format(time.RFC3339)
	case "phone.callee_answered":
		obj["answer_start_time"] = now.Format(time.RFC3339)
	case "phone.caller_ended", "phone.callee_ended", "phone.callee_missed", "phone.callee_rejected":
		obj["call_end_time"] = now.Format(time.RFC3339)
		if name == "phone.callee_missed" {
			obj["handup_result"] = "No Answer"
		}
	}
	return a.event(name, obj, nil), nil
}

// AgentStatusEvent sets an agent's status and returns the matching
// contact_center.user_status_changed.
func (a *Account) AgentStatusEvent(userID, curID, curName string) (Event, error) {
	u, ok := a.User(userID)
	if !ok || u.Agent == nil {
		return Event{}, fmt.Errorf("zoomfake: %s is not a Contact Center agent", userID)
	}
	if err := a.SetAgentStatus(userID, curID, curName); err != nil {
		return Event{}, err
	}
	return a.event("contact_center.user_status_changed", map[string]any{
		"user_id": u.ID, "display_name": u.DisplayName(), "user_email": u.Email,
		"previous_status_id": u.Agent.StatusID, "previous_status_name": u.Agent.StatusName,
		"current_status_id": curID, "current_status_name": curName,
		"date_time_ms": a.srv.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
	}, nil), nil
}

// Sign is Zoom's x-zm-signature for body at Unix-seconds timestamp.
func Sign(secretToken string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretToken))
	fmt.Fprintf(mac, "v0:%d:", timestamp)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// deliveryClient keeps connections to a receiver open between deliveries
// (Go's default keeps two per host, so concurrent tests would open and
// close a connection per event and run out of ports).
var deliveryClient = &http.Client{Timeout: 10 * time.Second, Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}()}

// Deliver POSTs ev to url signed with the account's webhook secret, with
// the headers Zoom sends, and returns the answer's status code.
func (a *Account) Deliver(ctx context.Context, url string, ev Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.Body))
	if err != nil {
		return 0, err
	}
	ts := a.srv.clock.Now().Unix()
	h := req.Header
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "Zoom Marketplace/1.0a")
	h.Set("x-zm-request-timestamp", strconv.FormatInt(ts, 10))
	h.Set("x-zm-signature", Sign(a.spec.WebhookSecret, ts, ev.Body))
	h.Set("x-zm-request-id", randomHex(16))
	h.Set("x-zm-trackingid", newTrackingID())
	resp, err := deliveryClient.Do(req)
	a.srv.mu.Lock()
	a.srv.stats.WebhooksSent++
	if err == nil && resp.StatusCode/100 == 2 {
		a.srv.stats.WebhooksAccepted++
	}
	a.srv.mu.Unlock()
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}
