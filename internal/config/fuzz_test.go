package config

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// accountSecrets collects the strings of an accounts file that are
// secret (any value under a key naming a secret or a token, at any depth)
// and every other string (ids, names, keys), which may be shown.
func accountSecrets(raw []byte) (secrets, shown []string) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, nil
	}
	var walk func(secret bool, v any)
	walk = func(secret bool, v any) {
		switch v := v.(type) {
		case string:
			if secret {
				secrets = append(secrets, v)
			} else {
				shown = append(shown, v)
			}
		case []any:
			for _, e := range v {
				walk(secret, e)
			}
		case map[string]any:
			for k, e := range v {
				shown = append(shown, k)
				lk := strings.ToLower(k)
				walk(secret || strings.Contains(lk, "secret") || strings.Contains(lk, "token"), e)
			}
		}
	}
	walk(false, v)
	return secrets, shown
}

// FuzzAccountsFile: whatever ZOOMSYNC_ACCOUNTS_FILE holds, loading never
// panics; a refusal is one line naming the variable; an accepted file
// gives accounts with an id, a client id and a client secret, each id
// once; neither the refusal nor the loaded configuration printed any way
// shows a secret of the file. Seeded from testdata/accounts.
func FuzzAccountsFile(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "accounts", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "accounts.json")
	load := func(b []byte) (*Config, error) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			f.Fatal(err)
		}
		return Load(context.Background(), envconfig.MapLookuper(map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": path}))
	}
	printed := func(c *Config, err error) map[string]string {
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		var logs strings.Builder
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("c", "config", c, "accounts", c.Zoom.Accounts)
		js, _ := json.Marshal(c)
		return map[string]string{"%v": fmt.Sprint(c), "%+v": fmt.Sprintf("%+v", *c), "%#v": fmt.Sprintf("%#v", *c), "slog": logs.String(), "json": string(js)}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := load(raw)
		secrets, shown := accountSecrets(raw)
		// The same file with every secret's bytes masked: what a message
		// or a field name shows anyway is not taken for a leak.
		m := string(raw)
		for _, s := range secrets {
			if len(s) >= 6 && strings.Trim(s, "Q") != "" {
				m = strings.ReplaceAll(m, s, strings.Repeat("Q", len(s)))
			}
		}
		base := printed(load([]byte(m)))
		for how, out := range printed(c, err) {
			for _, s := range secrets {
				if len(s) < 6 || strings.Trim(s, "Q") == "" || slices.ContainsFunc(shown, func(v string) bool { return strings.Contains(v, s) }) {
					continue
				}
				if strings.Contains(out, s) && !strings.Contains(base[how], s) {
					t.Fatalf("%s shows the secret %q: %s", how, s, out)
				}
			}
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ZOOMSYNC_ACCOUNTS_FILE: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("refusal %q: want one line naming ZOOMSYNC_ACCOUNTS_FILE", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, a := range c.Zoom.Accounts {
			if a.ID == "" || a.ClientID == "" || a.ClientSecret.IsZero() || seen[a.ID] {
				t.Fatalf("accepted account %q (client id %q, secret set %v, seen before %v)", a.ID, a.ClientID, !a.ClientSecret.IsZero(), seen[a.ID])
			}
			seen[a.ID] = true
		}
		if len(c.Zoom.Accounts) == 0 {
			t.Fatal("accepted a file without accounts")
		}
	})
}
