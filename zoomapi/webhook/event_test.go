package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/zoomapi/zoomjson"
)

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeEverySample decodes every Zoom sample body and checks the typed
// object's key fields.
func TestDecodeEverySample(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, ev *Event)
	}{
		{"user.created", func(t *testing.T, ev *Event) {
			u := ev.Object.(*UserEvent)
			want(t, u.User.ID, "abcD3ojfdbjfg")
			want(t, u.User.Email, "jchill@example.com")
			want(t, u.User.Type, zoomjson.Int(3)) // the example says 3, the schema [1,2]
			want(t, u.CreationType, "create")
		}},
		{"user.updated", func(t *testing.T, ev *Event) {
			u := ev.Object.(*UserEvent)
			want(t, u.User.Email, "xxxxxx@zoom.us")
			want(t, strings.Join(u.Changed, ","), "email")
			if u.Old == nil {
				t.Fatal("old_object missing")
			}
			want(t, u.Old.Email, "xxxxxx.old@zoom.us")
		}},
		{"user.deleted", userID("abcD3ojfdbjfg")},
		{"user.deactivated", userID("abcD3ojfdbjfg")},
		{"user.activated", userID("abcD3ojfdbjfg")},
		{"user.disassociated", userID("abcD3ojfdbjfg")},
		{"user.invitation_accepted", userID("abcD3ojfdbjfg")},
		{"user.settings_updated", func(t *testing.T, ev *Event) {
			u := ev.Object.(*UserEvent)
			want(t, u.User.ID, "eUblMKLnTMKX0pVvNAlA0Q")
			if !strings.Contains(string(u.Settings), "custom_live_streaming_service") {
				t.Fatalf("settings = %s", u.Settings)
			}
		}},
		{"user.signed_in", func(t *testing.T, ev *Event) {
			s := ev.Object.(*SignInEvent)
			want(t, s.LoginType, zoomjson.String("100")) // a string in the example
			want(t, s.ClientType, "android")
			want(t, s.DateTime.Time, time.Date(2021, 7, 26, 20, 13, 57, 0, time.UTC))
		}},
		{"user.signed_out", userID("abcD3ojfdbjfg")},
		{"user.presence_status_updated", func(t *testing.T, ev *Event) {
			p := ev.Object.(*PresenceEvent)
			want(t, p.ID, "abcD3ojfdbjfg")
			want(t, p.PresenceStatus, "Away")
			want(t, p.DateTime.Time, time.Date(2019, 11, 26, 20, 13, 57, 0, time.UTC)) // key "date-time"
			if p.App == nil || p.App.Type != "mobile" || p.App.PresenceStatus != "Offline" {
				t.Fatalf("app = %+v", p.App)
			}
		}},
		{"user.personal_notes_updated", func(t *testing.T, ev *Event) {
			if ev.UserID() == "" {
				t.Fatal("no user id")
			}
		}},
		{"phone.caller_ringing", callParties("caller")},
		{"phone.caller_connected", callParties("caller")},
		{"phone.caller_ended", callParties("caller")},
		{"phone.callee_ringing", callParties("callee")},
		{"phone.callee_answered", func(t *testing.T, ev *Event) {
			c := ev.Object.(*CallEvent)
			want(t, c.CallID, zoomjson.String("6998252113337041462"))
			want(t, ev.UserID(), "DnEopNmXQEGU2uvvzjgojw")
			want(t, c.Callee.ExtensionNumber, zoomjson.String("1002"))      // a number here
			want(t, c.ForwardedBy.ExtensionNumber, zoomjson.String("1022")) // a string here
			want(t, c.AnswerStartTime.Time, time.Date(2021, 8, 19, 21, 12, 38, 0, time.UTC))
		}},
		{"phone.callee_missed", callParties("callee")},
		{"phone.callee_rejected", callParties("callee")},
		{"phone.callee_ended", callParties("callee")},
		{"contact_center.user_status_changed", func(t *testing.T, ev *Event) {
			s := ev.Object.(*AgentStatusEvent)
			want(t, s.UserID, "ukAAkZKfROKMSw1bj_RDFQ")
			want(t, s.CurrentStatusID, zoomjson.String("2"))
			want(t, s.CurrentSubStatusName, "Meal")
			want(t, s.PreviousSubStatusID, zoomjson.String("20"))
			want(t, s.DateTime.Time, time.Date(2022, 2, 15, 9, 27, 15, 987e6, time.UTC))
		}},
		{"contact_center.user_login", agentUser},
		{"contact_center.user_logout", agentUser},
		{"contact_center.user_opt_in", func(t *testing.T, ev *Event) {
			a := ev.Object.(*AgentEvent)
			want(t, a.CCQueueID, zoomjson.String("xqJE_cgERLyAJHYYL5LLeg"))
		}},
		{"contact_center.user_opt_out", agentUser},
		{"contact_center.queue_agent_assigned", agentUser},
		{"contact_center.queue_agent_unassigned", agentUser},
		{"contact_center.user_created", func(t *testing.T, ev *Event) {
			a := ev.Object.(*AgentFields)
			want(t, a.StatusID, zoomjson.String("2"))
			want(t, ev.UserID(), "IGTRVt3gQ2i-WjoUIjeZxw")
		}},
		{"contact_center.user_updated", func(t *testing.T, ev *Event) {
			a := ev.Object.(*AgentUpdatedEvent)
			want(t, a.Updates.SubStatusID, zoomjson.String("109"))
			want(t, a.Updates.SubStatusName, "Whispering")
		}},
		{"contact_center.user_deleted", func(t *testing.T, ev *Event) {
			d := ev.Object.(*AgentsDeletedEvent)
			if len(d.Users) != 1 || d.Users[0].UserID != "IGTRVt3gQ2i-WjoUIjeZxw" {
				t.Fatalf("users = %+v", d.Users)
			}
		}},
		{"endpoint.url_validation", func(t *testing.T, ev *Event) {
			if ev.Object.(*URLValidationRequest).PlainToken == "" {
				t.Fatal("no plainToken")
			}
		}},
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.name] = true
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		if strings.HasPrefix(name, "webhook-signature") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if !covered[name] {
			t.Errorf("sample %s has no decode check", name)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := readSample(t, tt.name)
			ev, err := Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Name != tt.name || ev.TS == 0 || ev.ObjectErr != nil || ev.Object == nil {
				t.Fatalf("decoded %q ts=%d object=%T err=%v", ev.Name, ev.TS, ev.Object, ev.ObjectErr)
			}
			if tt.name != "endpoint.url_validation" && ev.AccountID == "" {
				t.Fatal("no account id")
			}
			if string(ev.Raw) != string(body) {
				t.Fatal("raw body not kept")
			}
			tt.check(t, ev)
		})
	}
}

func want[T comparable](t *testing.T, got, wantV T) {
	t.Helper()
	if got != wantV {
		t.Fatalf("got %v, want %v", got, wantV)
	}
}

func userID(id string) func(*testing.T, *Event) {
	return func(t *testing.T, ev *Event) {
		t.Helper()
		want(t, ev.UserID(), id)
	}
}

func callParties(own string) func(*testing.T, *Event) {
	return func(t *testing.T, ev *Event) {
		t.Helper()
		c := ev.Object.(*CallEvent)
		if c.CallID == "" {
			t.Fatal("no call id")
		}
		party := c.Callee
		if own == "caller" {
			party = c.Caller
		}
		want(t, ev.UserID(), party.UserID)
		if ev.UserID() == "" {
			t.Fatalf("%s has no user id", own)
		}
	}
}

func agentUser(t *testing.T, ev *Event) {
	t.Helper()
	a := ev.Object.(*AgentEvent)
	want(t, a.UserID, ev.UserID())
	if a.UserID == "" || a.UserEmail == "" || a.DateTime.IsZero() {
		t.Fatalf("agent event = %+v", a)
	}
}

func TestDecodeQuirks(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(t *testing.T, ev *Event)
	}{
		{"event_ts as string", `{"event":"user.created","event_ts":"1626230691572","payload":{"account_id":"A","object":{"id":"u"}}}`,
			func(t *testing.T, ev *Event) { want(t, ev.TS, int64(1626230691572)) }},
		{"type as string", `{"event":"user.created","event_ts":1,"payload":{"account_id":"A","object":{"id":"u","type":"2"}}}`,
			func(t *testing.T, ev *Event) { want(t, ev.Object.(*UserEvent).User.Type, zoomjson.Int(2)) }},
		{"login_type as int", `{"event":"user.signed_in","event_ts":1,"payload":{"account_id":"A","object":{"id":"u","login_type":101}}}`,
			func(t *testing.T, ev *Event) { want(t, ev.Object.(*SignInEvent).LoginType, zoomjson.String("101")) }},
		{"presence date_time schema key", `{"event":"user.presence_status_updated","event_ts":1,"payload":{"account_id":"A","object":{"id":"u","date_time":"2024-01-02T03:04:05Z","presence_status":"In_Meeting"}}}`,
			func(t *testing.T, ev *Event) {
				want(t, ev.Object.(*PresenceEvent).DateTime.Time, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
			}},
		{"call_id as number", `{"event":"phone.caller_connected","event_ts":1,"payload":{"account_id":"A","object":{"call_id":123,"caller":{"user_id":"u","extension_number":"7"}}}}`,
			func(t *testing.T, ev *Event) {
				want(t, ev.Object.(*CallEvent).CallID, zoomjson.String("123"))
				want(t, ev.UserID(), "u")
			}},
		{"unknown phone call event", `{"event":"phone.callee_call_held","event_ts":1,"payload":{"account_id":"A","object":{"call_id":"1","callee":{"user_id":"u"}}}}`,
			func(t *testing.T, ev *Event) { want(t, ev.UserID(), "u") }},
		{"unknown event kept raw", `{"event":"meeting.started","event_ts":5,"payload":{"account_id":"A","object":{"id":1}}}`,
			func(t *testing.T, ev *Event) {
				if ev.Object != nil || ev.ObjectErr != nil || ev.UserID() != "" || ev.AccountID != "A" {
					t.Fatalf("unknown event decoded as %+v", ev)
				}
			}},
		{"known event with odd object is kept", `{"event":"user.created","event_ts":1,"payload":{"account_id":"A","object":[1,2]}}`,
			func(t *testing.T, ev *Event) {
				if ev.Object != nil || ev.ObjectErr == nil {
					t.Fatalf("object=%v err=%v", ev.Object, ev.ObjectErr)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, ev)
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"not json":       `{"event":`,
		"array":          `[1,2]`,
		"missing event":  `{"event_ts":1,"payload":{}}`,
		"empty event":    `{"event":"  ","payload":{}}`,
		"event a number": `{"event":5}`,
		"empty body":     ``,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(body)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// TestChangesProfile: the events that change what a user's directory
// link is computed from, and only those, ask the mapping to link again.
func TestChangesProfile(t *testing.T) {
	for name, want := range map[string]bool{
		"user.created": true, "user.updated": true, "user.activated": true, "user.deactivated": true,
		"user.deleted": true, "user.disassociated": true, "user.invitation_accepted": true,
		"user.presence_status_updated": false, "user.settings_updated": false, "user.signed_in": false,
		"contact_center.user_updated": false, "phone.caller_ringing": false, "": false,
	} {
		if got := ChangesProfile(name); got != want {
			t.Errorf("ChangesProfile(%q) = %v, want %v", name, got, want)
		}
	}
}
