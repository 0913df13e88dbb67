package zsync

import (
	"slices"
	"testing"
)

func TestParseChanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		want    []UserRef
	}{
		{"one user (the form before batches)", "A\tu1", []UserRef{{"A", "u1"}}},
		{"a batch", "A\tu1\nA\tu2\nB\tu3", []UserRef{{"A", "u1"}, {"A", "u2"}, {"B", "u3"}}},
		{"empty", "", []UserRef{}},
		{"junk lines skipped", "nonsense\n\tu\nA\t\nA\tu1\n\nA\tu2\tx", []UserRef{{"A", "u1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseChanges(tc.payload); !slices.Equal(got, tc.want) {
				t.Errorf("ParseChanges(%q) = %v, want %v", tc.payload, got, tc.want)
			}
		})
	}
}

func TestFormatChangesRoundTrip(t *testing.T) {
	users := []UserRef{{"A", "u1"}, {"A", "u2"}, {"B", "e:x@example.com"}}
	if got := ParseChanges(FormatChanges(users)); !slices.Equal(got, users) {
		t.Errorf("round trip = %v, want %v", got, users)
	}
	if got := FormatChanges(users[:1]); got != "A\tu1" {
		t.Errorf("one user = %q, want the single-user form", got)
	}
}
