package zsync

import (
	"sort"
	"strconv"
	"strings"

	"github.com/zoomsync/zoomsync/internal/fnv1a"
)

// Phone calls are tracked per call, not per user: a person on call A
// while call B rings and is missed is still on call A.
//
// Each phone event is one fact about one call: a write field named
// "call:" + call id (CallField) with the value CallOpen (caller_connected,
// callee_answered) or CallEnded (*_ended, *_missed, *_rejected), versioned
// like every fact. Field names differ per call, so merging a batch's
// events per user (newest version per field) keeps one fact per call.
//
// The apply script keeps the user's calls in the script-owned field
// "calls" (FieldCalls): space-separated entries "o<version>:<id>" (open)
// and "e<version>:<id>" (ended, remembered so that a late or repeated
// open event of that call changes nothing), and "f<version>", the floor
// below which an event about a call no longer remembered is ignored. The
// user is on a call (call_state on_call, FieldCallState) while any entry
// is open. The record stays bounded whatever the stream of call ids:
//   - at most MaxOpenCalls calls are open; opening one more ends the
//     oldest (by version);
//   - ended calls are remembered for CallMemory after the user's newest
//     call event, and at most MaxEndedCalls of them; the oldest are
//     forgotten first and raise the floor to their version.
//
// A record written before calls were tracked (call_state and call_id
// only) is read as one open call, call_id, while call_state is on_call.
const (
	CallFieldPrefix = "call:"
	CallOpen        = "open"
	CallEnded       = "ended"
	FieldCalls      = "calls" // written by the apply script

	MaxOpenCalls  = 8
	MaxEndedCalls = 32
	CallMemory    = 2 * 60 * 60 * 1000 // ms: longer than Zoom's last retry (85 min after the event)
	maxCallIDLen  = 64
)

// CallField is the write field of one call's state.
func CallField(callID string) string { return CallFieldPrefix + callID }

// callID makes a Zoom call id safe to keep in the calls field: ids are
// digits; anything else with a separator or of unusual length is kept as
// its hash, and a missing id stands for "the user's call" ("-").
func callID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return "-"
	}
	if validCallID(id) {
		return id
	}
	return "h" + strconv.FormatUint(fnv1a.Sum64(id), 16)
}

func validCallID(id string) bool {
	if id == "" || len(id) > maxCallIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Call is one call the store knows of a user.
type Call struct {
	ID      string
	Version Version // of the fact that set its state: when it began (open) or ended
	Open    bool
}

// Calls returns the user's calls, oldest first (see FieldCalls).
func (r *Record) Calls() []Call {
	s, present := r.Fields[FieldCalls]
	calls, _ := parseCalls(s, present, r.Fields[FieldCallState], r.Fields[FieldCallID], r.Versions[FieldCallState])
	return calls
}

// parseCalls reads the calls field as the apply script writes it; a
// record without one (present false) that says on_call is one open call
// (the legacy form).
func parseCalls(s string, present bool, callState, legacyID string, legacyVersion Version) ([]Call, Version) {
	if !present {
		if callState == "on_call" {
			if !validCallID(legacyID) {
				legacyID = "-"
			}
			return []Call{{ID: legacyID, Version: legacyVersion, Open: true}}, 0
		}
		return nil, 0
	}
	var calls []Call
	var floor Version
	for _, tok := range strings.Fields(s) {
		if len(tok) < 2 {
			continue
		}
		switch tok[0] {
		case 'f':
			n, _ := strconv.ParseInt(tok[1:], 10, 64)
			floor = Version(n)
		case 'o', 'e':
			v, id, ok := strings.Cut(tok[1:], ":")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil || id == "" {
				continue
			}
			calls = append(calls, Call{ID: id, Version: Version(n), Open: tok[0] == 'o'})
		}
	}
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].Version < calls[j].Version })
	return calls, floor
}
