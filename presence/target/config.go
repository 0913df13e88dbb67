package target

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/zoomsync/zoomsync/presence"
)

// Config is one entry of ZOOMSYNC_TARGETS_FILE: the fields every type
// has, and the type's own (Settings, read by the type's Decode).
type Config struct {
	Name      string            `json:"name"`
	Type      string            `json:"type"` // a registered type: webhook, zoom_contact_center, …
	StatusMap map[string]string `json:"status_map"`
	Filter    Filter            `json:"filter"`
	// RateLimit is the most pushes per second this replica sends the
	// target (0: the type's default, else unlimited).
	RateLimit float64 `json:"rate_limit"`
	// DampingMS: a status must hold this long before it is pushed, except
	// on_call, which is pushed at once (0: off).
	DampingMS int64 `json:"damping_ms"`
	// DeadAfter: a change still failing after this long is dead-lettered
	// (default 1h).
	DeadAfter Duration `json:"dead_after"`
	// Timeout bounds one push (default 5s).
	Timeout Duration `json:"timeout"`
	// KeepAlive re-pushes a user's current status this long after its last
	// push (targets that forget, or expire, what they were told); 0: the
	// type's default (its Traits.Expiry), else off.
	KeepAlive Duration `json:"keepalive"`

	// Settings are the type's own fields (a webhook's url and secret).
	Settings Settings `json:"-"`
}

// Filter narrows the users a target receives; empty fields match all.
type Filter struct {
	Accounts    []string `json:"accounts"`
	Groups      []string `json:"groups"`       // Zoom group ids
	MatchedOnly bool     `json:"matched_only"` // only users linked to a directory entry
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration struct{ time.Duration }

// UnmarshalJSON reads "1h30m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		d.Duration = v
		return err
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a duration like \"30s\"")
	}
	if ns := n * float64(time.Second); ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return fmt.Errorf("duration %g s is out of range", n)
	}
	d.Duration = time.Duration(n * float64(time.Second))
	return nil
}

// ParseConfig reads and checks one targets-file entry: the common fields
// here, the type's own by its Decode.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("target: %v", err)
	}
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("target %q: %s", c.Name, fmt.Sprintf(format, args...))
	}
	if len(c.StatusMap) == 0 {
		if t, ok := lookup(c.Type); ok && len(t.DefaultStatusMap) > 0 {
			c.StatusMap = maps.Clone(t.DefaultStatusMap)
		} else {
			return bad("status_map is empty: nothing would ever be pushed")
		}
	}
	for k := range c.StatusMap {
		if !slices.Contains(presence.Statuses, presence.Status(k)) {
			return bad("status_map key %q is not a status (%v)", k, presence.Statuses)
		}
	}
	if c.RateLimit < 0 || c.DampingMS < 0 || c.KeepAlive.Duration < 0 {
		return bad("rate_limit, damping_ms and keepalive must be ≥ 0")
	}
	if c.DeadAfter.Duration < 0 || c.Timeout.Duration < 0 {
		// A negative timeout would fail every push at once.
		return bad("dead_after and timeout must be > 0 (or absent, for the defaults)")
	}
	if c.KeepAlive.Duration > 0 && c.KeepAlive.Duration < time.Second {
		return bad("keepalive must be at least 1s")
	}
	if c.DeadAfter.Duration == 0 {
		c.DeadAfter.Duration = time.Hour
		if t, ok := lookup(c.Type); ok && t.DeadAfter > 0 {
			c.DeadAfter.Duration = t.DeadAfter
		}
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = 5 * time.Second
	}
	t, ok := lookup(c.Type)
	if !ok {
		return bad("type %q: want %s", c.Type, typeNames())
	}
	s, err := t.Decode(raw)
	if err != nil {
		return bad("%v", err)
	}
	c.Settings = s
	return c, nil
}

// Endpoint is where the target's pushes go, redacted ("" when its type
// has nothing to show).
func (c Config) Endpoint() string {
	if c.Settings == nil {
		return ""
	}
	return c.Settings.Endpoint()
}
