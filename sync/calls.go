package zsync

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
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
	h := fnv.New64a()
	h.Write([]byte(id))
	return "h" + strconv.FormatUint(h.Sum64(), 16)
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

// callsLua is the apply script's part that keeps a user's calls (see
// above): read, one fact, trim, write.
var callsLua = `
local maxOpenCalls, maxEndedCalls, callMemory = ` + strconv.Itoa(MaxOpenCalls) + `, ` + strconv.Itoa(MaxEndedCalls) + `, ` + strconv.Itoa(2*CallMemory) + `
-- calls: a list of {id, version, 'o' or 'e'}; floor: see FieldCalls.
local function readCalls(s, callState, legacyID, legacyVersion)
  local calls, floor = {}, 0
  if s then
    for tok in string.gmatch(s, '%S+') do
      local kind = string.sub(tok, 1, 1)
      if kind == 'f' then
        floor = tonumber(string.sub(tok, 2)) or 0
      else
        local v, id = string.match(tok, '^[oe](%d+):(.+)$')
        if v then calls[#calls+1] = {id, tonumber(v), kind} end
      end
    end
  elseif callState == 'on_call' then
    local id = legacyID
    if not id or #id > ` + strconv.Itoa(maxCallIDLen) + ` or not string.match(id, '^[%w%-_%.]+$') then id = '-' end
    calls[1] = {id, tonumber(legacyVersion or '0') or 0, 'o'}
  end
  return calls, floor
end
-- callFact applies one call's state (kind 'o' or 'e') if newer; an end
-- beats an open of the same version. It reports whether it applied.
local function callFact(calls, floor, id, version, kind)
  for _, c in ipairs(calls) do
    if c[1] == id then
      if version > c[2] or (version == c[2] and kind == 'e' and c[3] == 'o') then
        c[2], c[3] = version, kind
        return true
      end
      return false
    end
  end
  if version <= floor then return false end
  calls[#calls+1] = {id, version, kind}
  return true
end
-- trimCalls bounds the calls (oldest first): it returns the kept calls,
-- the new floor and the version of the oldest open call (nil: none).
local function trimCalls(calls, floor)
  table.sort(calls, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  local open, ended, newest = 0, 0, 0
  for _, c in ipairs(calls) do
    if c[3] == 'o' then open = open + 1 else ended = ended + 1 end
    if c[2] > newest then newest = c[2] end
  end
  for _, c in ipairs(calls) do
    if open <= maxOpenCalls then break end
    if c[3] == 'o' then c[3] = 'e'; open = open - 1; ended = ended + 1 end
  end
  local kept, oldestOpen = {}, nil
  for _, c in ipairs(calls) do
    if c[3] == 'e' and (ended > maxEndedCalls or c[2] < newest - callMemory) then
      if c[2] > floor then floor = c[2] end
      ended = ended - 1
    else
      kept[#kept+1] = c
      if c[3] == 'o' and not oldestOpen then oldestOpen = c[2] end
    end
  end
  return kept, floor, oldestOpen
end
local function oldestOpen(calls)
  local v = nil
  for _, c in ipairs(calls) do
    if c[3] == 'o' and (not v or c[2] < v) then v = c[2] end
  end
  return v
end
local function writeCalls(calls, floor)
  local out = {}
  if floor > 0 then out[1] = 'f' .. string.format('%d', floor) end
  for _, c in ipairs(calls) do out[#out+1] = c[3] .. string.format('%d', c[2]) .. ':' .. c[1] end
  return table.concat(out, ' ')
end
`
