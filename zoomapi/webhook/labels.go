package webhook

import "slices"

// EventOther is the metrics label of every event name outside
// KnownEvents: a signed request may carry any name Zoom invents, and a
// label per name would grow the metrics without bound.
const EventOther = "other"

// knownEvents are the names EventLabel keeps: every event Decode types, the
// URL validation, and the phone call events the reconciler reads.
var knownEvents = func() map[string]bool {
	m := map[string]bool{EventURLValidation: true}
	for name := range objectTypes {
		m[name] = true
	}
	for _, side := range []string{"caller", "callee"} {
		for _, what := range []string{"ringing", "connected", "answered", "ended", "missed", "rejected", "hold", "unhold"} {
			m["phone."+side+"_"+what] = true
		}
	}
	return m
}()

// KnownEvents lists the event names EventLabel keeps, sorted.
func KnownEvents() []string {
	out := make([]string, 0, len(knownEvents))
	for name := range knownEvents {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// EventLabel bounds an event name for use as a metrics label: a known
// name is kept, "" stays "" (no verified event), anything else is
// EventOther.
func EventLabel(name string) string {
	switch {
	case name == "":
		return ""
	case knownEvents[name]:
		return name
	}
	return EventOther
}
