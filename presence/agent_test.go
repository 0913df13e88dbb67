package presence

import "testing"

func TestParseAgentStatus(t *testing.T) {
	tests := []struct {
		name, id, statusName string
		want                 AgentStatus
		system               bool
	}{
		{"offline by id", "0", "Offline", AgentOffline, true},
		{"ready by id", "1", "Ready", AgentReady, true},
		{"not ready by id", "2", "Not Ready", AgentNotReady, true},
		{"occupied by id", "3", "Occupied", AgentOccupied, true},
		{"id wins over a renamed label", "1", "Available for calls", AgentReady, true},
		{"name when id missing", "", "Not Ready", AgentNotReady, true},
		{"name case and spacing", "", "not_ready", AgentNotReady, true},
		{"custom id 4 keeps its name", "4", "Lunch Coverage", "Lunch Coverage", false},
		{"custom unknown id", "109", " Whispering ", "Whispering", false},
		{"both empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseAgentStatus(tt.id, tt.statusName)
			if got != tt.want {
				t.Fatalf("ParseAgentStatus(%q, %q) = %q, want %q", tt.id, tt.statusName, got, tt.want)
			}
			if got.IsSystem() != tt.system {
				t.Fatalf("IsSystem(%q) = %v, want %v", got, got.IsSystem(), tt.system)
			}
		})
	}
}

func TestAgentStatusIDRoundTrip(t *testing.T) {
	for _, a := range []AgentStatus{AgentOffline, AgentReady, AgentNotReady, AgentOccupied} {
		id, ok := AgentStatusID(a)
		if !ok || ParseAgentStatus(id, "") != a {
			t.Errorf("%q: id %q ok=%v does not round-trip", a, id, ok)
		}
	}
	if _, ok := AgentStatusID("Lunch Coverage"); ok {
		t.Error("a custom status has no system id")
	}
}
