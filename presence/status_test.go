package presence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestParseZoomStatus(t *testing.T) {
	tests := []struct {
		zoom string
		want Status
	}{
		// REST GET/PUT enum (Users OpenAPI).
		{"Available", Available},
		{"Away", Away},
		{"Do_Not_Disturb", DND},
		{"Do_No_Disturb", DND}, // typo in Zoom's self-DND enum
		{"In_A_Zoom_Meeting", InMeeting},
		{"On_A_Call", OnCall},
		{"In_Calendar_Event", InCalendarEvent},
		{"Presenting", Presenting},
		{"Out_of_Office", OutOfOffice},
		{"Busy", Busy},
		// REST prose and ZoomNet's model of real responses.
		{"Offline", Offline},
		{"In_A_Meeting", InMeeting},
		{"In_A_Call", OnCall},
		{"In_A_Calendar_Event", InCalendarEvent},
		// Webhook enum (user.presence_status_updated).
		{"In_Meeting", InMeeting},
		{"On_Phone_Call", OnCall},
		{"Mobile_signed_in", MobileOnly},
		// Case, spacing and separators people and proxies introduce.
		{"IN_A_MEETING", InMeeting},
		{"in a meeting", InMeeting},
		{" available ", Available},
		{"do-not-disturb", DND},
		// Nothing is guessed.
		{"", Unknown},
		{"Sleeping", Unknown},
		{"In_A", Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.zoom, func(t *testing.T) {
			if got := ParseZoomStatus(tt.zoom); got != tt.want {
				t.Errorf("ParseZoomStatus(%q) = %q, want %q", tt.zoom, got, tt.want)
			}
		})
	}
}

// TestEveryOpenAPISpellingIsKnown walks every presence enum in Zoom's own
// OpenAPI specs, so a spelling added there fails here until it is mapped.
func TestEveryOpenAPISpellingIsKnown(t *testing.T) {
	files := []string{"zoom-users-api.openapi.json", "zoom-users-webhooks.openapi.json"}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "zoom-openapi", f))
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range presenceEnums(doc) {
			seen[v] = true
		}
	}
	if len(seen) < 17 {
		t.Fatalf("found only %d presence spellings in the specs; the walker is broken: %v", len(seen), seen)
	}
	for _, v := range slices.Sorted(func(yield func(string) bool) {
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Run(v, func(t *testing.T) {
			if got := ParseZoomStatus(v); got == Unknown {
				t.Errorf("Zoom spelling %q maps to unknown", v)
			}
		})
	}
	for _, want := range []string{"Do_No_Disturb", "In_A_Meeting", "In_A_Call", "In_A_Calendar_Event", "Mobile_signed_in"} {
		if !seen[want] {
			t.Errorf("walker missed %q, which the specs contain", want)
		}
	}
}

// presenceEnums returns every presence spelling the spec documents: the
// enum values of any schema whose description talks about a presence status,
// any enum listing Available or Away, and the back-quoted names in such
// descriptions (Zoom's prose lists spellings its enums omit, such as
// In_A_Meeting).
func presenceEnums(node any) []string {
	var out []string
	switch n := node.(type) {
	case map[string]any:
		desc, _ := n["description"].(string)
		aboutPresence := strings.Contains(strings.ToLower(desc), "presence status")
		if vals, ok := n["enum"].([]any); ok && (aboutPresence || isPresenceEnum(vals)) {
			for _, x := range vals {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
		}
		if aboutPresence {
			for _, m := range backquoted.FindAllStringSubmatch(desc, -1) {
				out = append(out, m[1])
			}
		}
		for _, v := range n {
			out = append(out, presenceEnums(v)...)
		}
	case []any:
		for _, v := range n {
			out = append(out, presenceEnums(v)...)
		}
	}
	return out
}

var backquoted = regexp.MustCompile("`([A-Z][a-z]+(?:_[A-Za-z]+)*)`")

func isPresenceEnum(vals []any) bool {
	for _, x := range vals {
		if s, ok := x.(string); ok && (s == "Available" || s == "Away") {
			return true
		}
	}
	return false
}

func TestParseStatus(t *testing.T) {
	for _, s := range Statuses {
		t.Run(string(s), func(t *testing.T) {
			got, err := ParseStatus(string(s))
			if err != nil || got != s {
				t.Fatalf("ParseStatus(%q) = %q, %v", s, got, err)
			}
		})
	}
	for _, bad := range []string{"", "Available", "in-meeting", "on call"} {
		t.Run("reject "+bad, func(t *testing.T) {
			if _, err := ParseStatus(bad); err == nil || !strings.Contains(err.Error(), "unknown presence status") {
				t.Fatalf("ParseStatus(%q) err = %v, want unknown presence status", bad, err)
			}
		})
	}
}

func TestZoomRESTSpellingRoundTrips(t *testing.T) {
	for _, s := range Statuses {
		sp, ok := ZoomRESTSpelling(s)
		if !ok {
			continue
		}
		if got := ParseZoomStatus(sp); got != s {
			t.Errorf("REST spelling %q of %q parses back as %q", sp, s, got)
		}
	}
	for _, s := range []Status{Offline, MobileOnly, Unknown} {
		if _, ok := ZoomRESTSpelling(s); ok {
			t.Errorf("%q must not be settable through the REST PUT", s)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	var v struct{ S Status }
	if err := json.Unmarshal([]byte(`{"S":"on_call"}`), &v); err != nil || v.S != OnCall {
		t.Fatalf("unmarshal canonical: %v %q", err, v.S)
	}
	if err := json.Unmarshal([]byte(`{"S":"On_A_Call"}`), &v); err == nil {
		t.Fatal("a Zoom spelling in configuration must be rejected")
	}
	b, _ := json.Marshal(struct{ S Status }{})
	if string(b) != `{"S":"unknown"}` {
		t.Fatalf("empty status marshals as %s", b)
	}
}
