package presence

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Status is a canonical presence status (SPEC §5).
type Status string

// Canonical statuses, in the order SPEC §5 lists them.
const (
	Available       Status = "available"
	Away            Status = "away"
	DND             Status = "dnd"
	InMeeting       Status = "in_meeting"
	Presenting      Status = "presenting"
	OnCall          Status = "on_call"
	InCalendarEvent Status = "in_calendar_event"
	OutOfOffice     Status = "out_of_office"
	Busy            Status = "busy"
	Offline         Status = "offline"
	MobileOnly      Status = "mobile_only"
	Unknown         Status = "unknown"
)

// Statuses lists every canonical status.
var Statuses = []Status{Available, Away, DND, InMeeting, Presenting, OnCall,
	InCalendarEvent, OutOfOffice, Busy, Offline, MobileOnly, Unknown}

// Valid reports whether s is one of the canonical statuses.
func (s Status) Valid() bool {
	_, ok := canonical[s]
	return ok
}

var canonical = func() map[Status]bool {
	m := make(map[Status]bool, len(Statuses))
	for _, s := range Statuses {
		m[s] = true
	}
	return m
}()

// ParseStatus parses a canonical status name (as used in configuration,
// e.g. a target's status_map). Unlike ParseZoomStatus it rejects anything
// that is not canonical, because a typo in configuration must be an error.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.TrimSpace(s))
	if !st.Valid() {
		return "", fmt.Errorf("unknown presence status %q (want one of %s)", s, statusList())
	}
	return st, nil
}

func statusList() string {
	names := make([]string, len(Statuses))
	for i, s := range Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// UnmarshalText accepts only canonical names (see ParseStatus).
func (s *Status) UnmarshalText(b []byte) error {
	st, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// zoomSpellings maps every Zoom presence spelling, folded by foldSpelling,
// to its canonical status. Sources: the Users REST OpenAPI enum and prose,
// the Users webhook OpenAPI enum, ZoomNet's model of real responses, and the
// Team Chat contacts enum (zoom-api.md §2 and §5).
var zoomSpellings = map[string]Status{}

func init() {
	for status, spellings := range map[Status][]string{
		Available:       {"Available"},
		Away:            {"Away"},
		DND:             {"Do_Not_Disturb", "Do_No_Disturb", "DND"},
		InMeeting:       {"In_A_Zoom_Meeting", "In_A_Meeting", "In_Meeting", "In_Zoom_Meeting"},
		Presenting:      {"Presenting"},
		OnCall:          {"On_A_Call", "In_A_Call", "On_Phone_Call", "On_Call"},
		InCalendarEvent: {"In_Calendar_Event", "In_A_Calendar_Event"},
		OutOfOffice:     {"Out_of_Office"},
		Busy:            {"Busy"},
		Offline:         {"Offline"},
		MobileOnly:      {"Mobile_signed_in"},
	} {
		for _, sp := range spellings {
			zoomSpellings[foldSpelling(sp)] = status
		}
	}
}

// foldSpelling lower-cases s and drops the separators Zoom and people use
// inconsistently (underscore, space, hyphen).
func foldSpelling(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.TrimSpace(s) {
		switch r {
		case '_', ' ', '-':
			continue
		}
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ParseZoomStatus maps any Zoom presence spelling (REST or webhook) to its
// canonical status; unrecognised or empty spellings are Unknown.
func ParseZoomStatus(zoom string) Status {
	if s, ok := zoomSpellings[foldSpelling(zoom)]; ok {
		return s
	}
	return Unknown
}

// restSpelling is the spelling the REST PUT presence_status endpoint accepts
// for each status it can set (zoom-api.md §2); statuses missing here cannot
// be set through that API.
var restSpelling = map[Status]string{
	Available:       "Available",
	Away:            "Away",
	DND:             "Do_Not_Disturb",
	InMeeting:       "In_A_Zoom_Meeting",
	Presenting:      "Presenting",
	OnCall:          "On_A_Call",
	InCalendarEvent: "In_Calendar_Event",
	OutOfOffice:     "Out_of_Office",
	Busy:            "Busy",
}

// ZoomRESTSpelling returns the spelling Zoom's REST PUT presence_status
// accepts for s, and false when Zoom cannot set s through that API.
func ZoomRESTSpelling(s Status) (string, bool) {
	sp, ok := restSpelling[s]
	return sp, ok
}

// MarshalJSON emits the canonical name; an empty Status is "unknown".
func (s Status) MarshalJSON() ([]byte, error) {
	if s == "" {
		s = Unknown
	}
	return json.Marshal(string(s))
}
