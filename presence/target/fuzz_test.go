package target

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/presence"
)

// secretParts collects what in a raw targets-file entry is secret (the
// signing secret, the URL's user, password and query) and every other
// string in it (names, map values, keys), which may be shown.
func secretParts(raw []byte) (secrets, shown []string) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil, nil
	}
	if s, ok := m["secret"].(string); ok {
		secrets = append(secrets, s)
	}
	if s, ok := m["url"].(string); ok {
		if u, err := url.Parse(s); err == nil {
			if u.User != nil {
				secrets = append(secrets, u.User.Username())
				if p, ok := u.User.Password(); ok {
					secrets = append(secrets, p)
				}
			}
			secrets = append(secrets, u.RawQuery, u.Fragment)
			shown = append(shown, u.Scheme, u.Host, u.Path, u.EscapedPath())
		}
	}
	var walk func(k string, v any)
	walk = func(k string, v any) {
		if k != "secret" && k != "url" {
			shown = append(shown, k)
			if s, ok := v.(string); ok {
				shown = append(shown, s)
			}
		}
		switch v := v.(type) {
		case map[string]any:
			for k2, v2 := range v {
				walk(k2, v2)
			}
		case []any:
			for _, v2 := range v {
				walk("", v2)
			}
		}
	}
	for k, v := range m {
		walk(k, v)
	}
	return secrets, shown
}

// masked is raw with every secret's bytes replaced by as many 'Q's (a
// secret made of Qs is left out): the same entry, as far as the decoder
// can tell, with other secrets.
func masked(raw []byte, secrets []string) []byte {
	out := string(raw)
	for _, s := range secrets {
		if len(s) >= 6 && strings.Trim(s, "Q") != "" {
			out = strings.ReplaceAll(out, s, strings.Repeat("Q", len(s)))
		}
	}
	return []byte(out)
}

// leaks reports a secret (of at least 6 bytes) that out shows because of
// the secret itself: it is not part of a string that may be shown, and
// baseline, the same output for the masked entry, does not have it (so
// the words of a message or a field name are not taken for a leak).
func leaks(out, baseline string, secrets, shown []string) string {
	for _, s := range secrets {
		if len(s) < 6 || strings.Trim(s, "Q") == "" || slices.ContainsFunc(shown, func(v string) bool { return strings.Contains(v, s) }) {
			continue
		}
		if strings.Contains(out, s) && !strings.Contains(baseline, s) {
			return s
		}
	}
	return ""
}

// FuzzParseConfig: a targets-file entry never panics the decoder; an
// accepted one is usable (a known type, statuses in its map, a webhook's
// http(s) URL and secret, positive timeouts); neither the error of a
// refused one nor the printed configuration of an accepted one shows the
// signing secret or the URL's user info or query.
func FuzzParseConfig(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "targets.json"))
	if err != nil {
		f.Fatal(err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(b, &entries); err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add([]byte(e))
	}
	f.Add([]byte(`{"name":"x","type":"webhook","url":"http://[::1]:80/?a=b#c","secret":"s","status_map":{"available":"A"},"timeout":-1}`))
	f.Add([]byte(`{"name":"x","type":"webhook","url":"https://u:p@h","secret":"s","status_map":{"available":"A"},"dead_after":"1e400s"}`))
	printed := func(c Config, err error) map[string]string {
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		var logs strings.Builder
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("t", "target", c)
		js, _ := json.Marshal(c)
		return map[string]string{"%v": fmt.Sprint(c), "%#v": fmt.Sprintf("%#v", c), "slog": logs.String(), "json": string(js),
			"Endpoint": c.Endpoint()}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(json.RawMessage(raw))
		secrets, shown := secretParts(raw)
		base := printed(ParseConfig(json.RawMessage(masked(raw, secrets))))
		for how, out := range printed(c, err) {
			if s := leaks(out, base[how], secrets, shown); s != "" {
				t.Fatalf("%s shows %q: %s", how, s, out)
			}
		}
		if err != nil {
			return
		}
		if len(c.StatusMap) == 0 || c.DeadAfter.Duration <= 0 || c.Timeout.Duration <= 0 || c.RateLimit < 0 || c.DampingMS < 0 {
			t.Fatalf("accepted an unusable target: %+v", c)
		}
		for k := range c.StatusMap {
			if !slices.Contains(presence.Statuses, presence.Status(k)) {
				t.Fatalf("accepted status %q", k)
			}
		}
		switch c.Type {
		case TypeWebhook:
			ws := c.Settings.(*webhookSettings)
			u, err := url.Parse(ws.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || ws.Secret.IsZero() {
				t.Fatalf("accepted webhook url %q (secret set: %v)", RedactURL(ws.URL), !ws.Secret.IsZero())
			}
		case TypeZoomContactCenter:
		default:
			t.Fatalf("accepted type %q", c.Type)
		}
		if c.KeepAlive.Duration != 0 && c.KeepAlive.Duration < time.Second {
			t.Fatalf("accepted keepalive %v", c.KeepAlive.Duration)
		}
	})
}
