package presence

import "testing"

func TestEffective(t *testing.T) {
	cases := []struct {
		name string
		in   Sources
		want Status
	}{
		{"presence", Sources{Presence: InMeeting, UserStatus: "active"}, InMeeting},
		{"call beats the client's available", Sources{Presence: Available, OnCall: true, UserStatus: "active"}, OnCall},
		{"call beats in_meeting too", Sources{Presence: InMeeting, OnCall: true, UserStatus: "active"}, OnCall},
		{"deactivated is offline", Sources{Presence: Available, UserStatus: "inactive"}, Offline},
		{"deleted is offline even on a call", Sources{Presence: Available, OnCall: true, UserStatus: "deleted"}, Offline},
		{"pending is offline", Sources{UserStatus: "pending"}, Offline},
		{"nothing heard", Sources{UserStatus: "active"}, Unknown},
		{"status unknown to us", Sources{Presence: "", UserStatus: ""}, Unknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Effective(tc.in); got != tc.want {
				t.Fatalf("Effective(%+v) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
