package zoomjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// String is a string that may arrive as a JSON number or string.
type String string

// UnmarshalJSON accepts a string, a number (kept in its decimal form) or null.
func (s *String) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			*s = ""
			return nil
		}
		*s = String(v)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		*s = String(b)
	default:
		*s = ""
	}
	return nil
}

// Int is an integer that may arrive as a JSON number or numeric string.
type Int int64

// UnmarshalJSON accepts 3, 3.0, "3" and null; anything else is 0.
func (n *Int) UnmarshalJSON(b []byte) error {
	var s String
	_ = s.UnmarshalJSON(b)
	str := strings.TrimSpace(string(s))
	if v, err := strconv.ParseInt(str, 10, 64); err == nil {
		*n = Int(v)
		return nil
	}
	if f, err := strconv.ParseFloat(str, 64); err == nil && f >= -9e18 && f <= 9e18 {
		*n = Int(int64(f))
		return nil
	}
	*n = 0
	return nil
}

// Time is a time that may arrive as RFC 3339 text or as Unix
// milliseconds (number or numeric string).
type Time struct{ time.Time }

// UnmarshalJSON accepts RFC 3339 (with or without fractional seconds), Unix
// milliseconds, and null.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s String
	_ = s.UnmarshalJSON(b)
	t.Time = parseTime(string(s))
	return nil
}

func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC()
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC()
		}
	}
	return time.Time{}
}

// MarshalJSON writes RFC 3339, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Time.Format(time.RFC3339Nano))
}
