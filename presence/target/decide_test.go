package target

import (
	"testing"

	"github.com/zoomsync/zoomsync/presence"
)

// TestDecideClearsAfterCoalescing: a type that clears is sent every
// unmapped status, whatever the change's previous status: when changes
// were coalesced (on_call pushed; available, then away, queued while the
// target was busy), Previous is available and on_call must still be
// cleared. A type that does not clear keeps "no sync".
func TestDecideClearsAfterCoalescing(t *testing.T) {
	m := map[string]string{string(presence.OnCall): "Busy/InACall"}
	cases := []struct {
		name      string
		clears    bool
		status    presence.Status
		previous  presence.Status
		send      bool
		wantClear bool
	}{
		{"mapped", true, presence.OnCall, presence.Available, true, false},
		{"leaving the map", true, presence.Available, presence.OnCall, true, true},
		{"coalesced after leaving it", true, presence.Away, presence.Available, true, true},
		{"no clearing: no sync", false, presence.Away, presence.OnCall, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &configured{Config: Config{StatusMap: m}, traits: Traits{ClearUnmapped: tc.clears}}
			p := Push{Status: tc.status, Previous: tc.previous}
			if send := c.decide(&p); send != tc.send || p.Clear != tc.wantClear {
				t.Fatalf("decide = %v, Clear %v; want %v, %v", send, p.Clear, tc.send, tc.wantClear)
			}
		})
	}
}
