package cli

import (
	"strings"
	"testing"
)

// TestDemoWithTeams: with --teams the demo also pushes to a teams target
// against a simulated Microsoft Graph, whose accepted presence actions
// are printed.
func TestDemoWithTeams(t *testing.T) {
	code, stdout, stderr := run(t, nil, "demo", "--teams", "--duration", "8s", "--addr", "127.0.0.1:0", "--users", "60", "--rate", "10")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		`demo target "demo-teams" (a simulated Microsoft Graph tenant, 120 users`, "teams      setPresence", "demo-pbx   ⇠ pushed", " 0 refused.",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stderr, "dead-lettered") {
		t.Errorf("pushes were dead-lettered:\n%s", stderr)
	}
}
