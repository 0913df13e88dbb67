package zsync

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/zoomapi"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
)

func sample(t *testing.T, name string) *webhook.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "zoomapi", "webhook", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := webhook.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func fieldsOf(w Write) map[string]string {
	m := map[string]string{}
	for _, f := range w.Fields {
		m[f.Name] = f.Value
	}
	return m
}

func TestEventWrite(t *testing.T) {
	tests := []struct {
		sample string
		user   string
		want   map[string]string // exact set of fields written
	}{
		{"user.created", "abcD3ojfdbjfg", map[string]string{"email": "jchill@example.com", "first_name": "Jill", "last_name": "Chill",
			"display_name": "Jill Chill", "type": "3", "user_status": "active"}},
		{"user.updated", "eUblMKLnTMKX0pVvNAlA0Q", map[string]string{"email": "xxxxxx@zoom.us"}}, // partial: only what changed
		{"user.deactivated", "abcD3ojfdbjfg", map[string]string{"email": "jchill@example.com", "first_name": "Jill",
			"last_name": "Chill", "type": "3", "user_status": "inactive"}},
		{"user.deleted", "abcD3ojfdbjfg", nil},
		{"user.presence_status_updated", "abcD3ojfdbjfg", map[string]string{"zoom_status": "Away", "presence": "away",
			"presence_since": "2019-11-26T20:13:57Z"}},
		{"phone.callee_answered", "DnEopNmXQEGU2uvvzjgojw", map[string]string{"call:6998252113337041462": "open"}},
		{"phone.caller_connected", "DnEopNmXQEGU2uvvzjgojw", map[string]string{"call:6998252113337041462": "open"}},
		{"phone.caller_ended", "DnEopNmXQEGU2uvvzjgojw", map[string]string{"call:6998252113337041462": "ended"}},
		{"phone.callee_ended", "DnEopNmXQEGU2uvvzjgojw", map[string]string{"call:6998252113337041462": "ended"}},
		{"phone.callee_missed", "DnEopNmXQEGU2uvvzjgojw", map[string]string{"call:6998252113337041462": "ended"}},
		{"phone.callee_rejected", "DnEopNmXQEGU2uvvzjgojw", map[string]string{"call:6998252113337041462": "ended"}},
		{"contact_center.user_status_changed", "ukAAkZKfROKMSw1bj_RDFQ", map[string]string{"agent_status_id": "2",
			"agent_status_name": "Not Ready", "agent_status": "not_ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			ev := sample(t, tt.sample)
			w, ok := EventWrite("A", ev)
			if !ok || w.UserKey != tt.user || w.Account != "A" {
				t.Fatalf("write %+v ok=%v", w, ok)
			}
			for _, f := range w.Fields {
				if f.Version != WebhookVersion(ev.TS) {
					t.Fatalf("%s has version %d", f.Name, f.Version)
				}
			}
			got := fieldsOf(w)
			if tt.want == nil {
				if got["user_status"] != StatusDeleted {
					t.Fatalf("fields %v", got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("fields %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
	for _, none := range []string{"user.signed_in", "phone.callee_ringing", "phone.caller_ringing", "contact_center.user_login", "endpoint.url_validation"} {
		t.Run(none+" writes nothing", func(t *testing.T) {
			if w, ok := EventWrite("A", sample(t, none)); ok {
				t.Fatalf("wrote %+v", w)
			}
		})
	}
}

func TestPulledUserWrite(t *testing.T) {
	at := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	w := PulledUserWrite("A", &zoomapi.User{Email: "New.Hire@Example.com", Status: "pending"}, at)
	if w.UserKey != "e:new.hire@example.com" {
		t.Fatalf("pending key %q", w.UserKey)
	}
	names := []string{}
	for _, f := range w.Fields {
		if f.Version != PullVersion(at) || f.Version.FromWebhook() {
			t.Fatalf("%s version %d", f.Name, f.Version)
		}
		names = append(names, f.Name)
	}
	sort.Strings(names)
	if fieldsOf(w)["group_ids"] != "[]" || fieldsOf(w)["user_status"] != "pending" || len(names) != 10 {
		t.Fatalf("fields %v", fieldsOf(w))
	}
}

// TestAggregatePresenceWinsOverAnApp: Zoom adds a per-device status
// (payload.object.app) beside the aggregate presence_status; a user on
// their phone in a meeting while the desktop idles is in a meeting.
func TestAggregatePresenceWinsOverAnApp(t *testing.T) {
	cases := []struct{ aggregate, app, want string }{
		{"In_Meeting", "Available", "in_meeting"},
		{"Available", "Do_Not_Disturb", "available"},
		{"On_Phone_Call", "Away", "on_call"},
	}
	for _, tc := range cases {
		t.Run(tc.aggregate+"/"+tc.app, func(t *testing.T) {
			body := `{"event":"user.presence_status_updated","event_ts":1700000000000,"payload":{"account_id":"A","object":{"id":"u1","email":"a@x.com",` +
				`"date_time":"2023-11-14T22:13:20Z","presence_status":"` + tc.aggregate + `","app":{"type":"mobile","presence_status":"` + tc.app + `"}}}}`
			ev, err := webhook.Decode([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			w, ok := EventWrite("A", ev)
			if got := fieldsOf(w)[FieldPresence]; !ok || got != tc.want {
				t.Fatalf("presence %q, want %q", got, tc.want)
			}
		})
	}
}
