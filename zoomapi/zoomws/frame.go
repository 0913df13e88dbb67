package zoomws

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Modules of Zoom's frames. Anything else is counted as "other" and
// ignored.
const (
	ModuleHeartbeat       = "heartbeat"
	ModuleBuildConnection = "build_connection"
	ModuleMessage         = "message"
	ModuleOther           = "other"
	ModuleMalformed       = "malformed" // not a frame at all (metrics label)
)

// heartbeatFrame is the client's heartbeat: Zoom's own JSON frame, not a
// WebSocket ping and not the bare word.
var heartbeatFrame = []byte(`{"module":"heartbeat"}`)

// Frame is one frame from Zoom: {"module","success"?,"content","header"}.
type Frame struct {
	Module  string
	Success *bool // absent on most frames
	// Content is the frame's content: an event frame's is the event JSON,
	// which Zoom sends as a string (double-encoded) and is unquoted here;
	// an object is taken as it is.
	Content []byte
}

// ErrMalformedFrame is a frame that is not a JSON object with a string
// "module".
var ErrMalformedFrame = errors.New("malformed frame: want a JSON object with a string \"module\"")

// ParseFrame decodes a frame leniently: unknown keys and a missing
// content are fine; a module that is not a string is not.
func ParseFrame(b []byte) (Frame, error) {
	var raw struct {
		Module  *string         `json:"module"`
		Success *bool           `json:"success"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil || raw.Module == nil {
		return Frame{}, ErrMalformedFrame
	}
	f := Frame{Module: *raw.Module, Success: raw.Success}
	c := bytes.TrimSpace(raw.Content)
	switch {
	case len(c) == 0 || string(c) == "null":
	case c[0] == '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return Frame{}, ErrMalformedFrame
		}
		f.Content = []byte(s)
	default:
		f.Content = c
	}
	return f, nil
}

// Failed reports a frame that says success:false.
func (f Frame) Failed() bool { return f.Success != nil && !*f.Success }

// InvalidToken reports a refusal of the access token. Zoom has said it
// in two ways ("Invalid Token", later "Token is invalid"); "token is
// empty" is what a token sent anywhere but the query string gets.
func (f Frame) InvalidToken() bool {
	c := strings.ToLower(strings.TrimSpace(string(f.Content)))
	switch c {
	case "invalid token", "token is invalid", "token is empty":
		return true
	}
	return f.Failed() && strings.Contains(c, "token")
}

// ModuleLabel is the frame's module as a metrics label: one of the
// known modules or "other", whatever the server sends.
func ModuleLabel(module string) string {
	switch module {
	case ModuleHeartbeat, ModuleBuildConnection, ModuleMessage:
		return module
	}
	return ModuleOther
}
