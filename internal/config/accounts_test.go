package config

import (
	"os"
	"strings"
	"testing"
)

func TestWebhookSecretNext(t *testing.T) {
	single := map[string]string{"ZOOM_ACCOUNT_ID": "A", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range single {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name           string
		env            map[string]string
		wantErr        string
		current, next  string
		leakInTheError string
	}{
		{name: "file: both secrets", env: map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": writeFile(t, "a.json",
			`[{"account_id":"F","client_id":"c","client_secret":"s","webhook_secret_token":"w-old","webhook_secret_token_next":"w-new"}]`)},
			current: "w-old", next: "w-new"},
		{name: "file: one secret", env: map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": writeFile(t, "a.json",
			`[{"account_id":"F","client_id":"c","client_secret":"s","webhook_secret_token":"w-old"}]`)},
			current: "w-old"},
		{name: "file: next without current", env: map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": writeFile(t, "a.json",
			`[{"account_id":"F","client_id":"c","client_secret":"s","webhook_secret_token_next":"w-new"}]`)},
			wantErr: "ZOOMSYNC_ACCOUNTS_FILE: entry 1 (F): webhook_secret_token_next needs webhook_secret_token", leakInTheError: "w-new"},
		{name: "environment: both secrets", env: with(map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN": "e-old", "ZOOM_WEBHOOK_SECRET_TOKEN_NEXT": "e-new"}),
			current: "e-old", next: "e-new"},
		{name: "environment: next without current", env: with(map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN_NEXT": "e-new"}),
			wantErr: "ZOOM_WEBHOOK_SECRET_TOKEN_NEXT: needs ZOOM_WEBHOOK_SECRET_TOKEN", leakInTheError: "e-new"},
		{name: "environment: next alone", env: map[string]string{"ZOOM_WEBHOOK_SECRET_TOKEN_NEXT": "e-new"},
			wantErr: "is required when any of", leakInTheError: "e-new"},
		// encoding/json quotes the character it stumbled on: here the
		// first one of a secret written without quotes.
		{name: "syntax error quotes nothing", env: map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": writeFile(t, "a.json",
			`[{"account_id":"F","client_id":"c","client_secret":Xsecret}]`)},
			wantErr: "ZOOMSYNC_ACCOUNTS_FILE: " /* path */, leakInTheError: "'X'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), tt.leakInTheError) {
					t.Fatalf("err = %v, want %q without %q", err, tt.wantErr, tt.leakInTheError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := c.Zoom.Accounts[0]
			if a.WebhookSecret.Reveal() != tt.current || a.WebhookNext.Reveal() != tt.next {
				t.Fatalf("secrets %q %q, want %q %q", a.WebhookSecret.Reveal(), a.WebhookNext.Reveal(), tt.current, tt.next)
			}
		})
	}
}

// TestReloadAccounts: a reload reads the file again with Load's checks and
// keeps the ZOOM_* account as it was.
func TestReloadAccounts(t *testing.T) {
	path := writeFile(t, "accounts.json", `[{"account_id":"F","client_id":"c","client_secret":"s","webhook_secret_token":"w1"}]`)
	c, err := load(t, map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": path,
		"ZOOM_ACCOUNT_ID": "E", "ZOOM_CLIENT_ID": "ce", "ZOOM_CLIENT_SECRET": "se", "ZOOM_WEBHOOK_SECRET_TOKEN": "we"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Zoom.AccountsFile != path {
		t.Fatalf("AccountsFile %q", c.Zoom.AccountsFile)
	}
	for _, tt := range []struct {
		name, file, wantErr string
		wantIDs             []string
	}{
		{"rotated", `[{"account_id":"F","client_id":"c2","client_secret":"s2","webhook_secret_token":"w1","webhook_secret_token_next":"w2"}]`, "", []string{"F", "E"}},
		{"added", `[{"account_id":"F","client_id":"c","client_secret":"s"},{"account_id":"G","client_id":"c","client_secret":"s"}]`, "", []string{"F", "G", "E"}},
		{"broken", `[{"account_id":"F","client_id":"c"`, "ZOOMSYNC_ACCOUNTS_FILE: ", nil},
		{"invalid", `[{"account_id":"F","client_id":"c"}]`, "ZOOMSYNC_ACCOUNTS_FILE: entry 1 (F): client_secret is required", nil},
		{"clashes with the environment's", `[{"account_id":"E","client_id":"c","client_secret":"s"}]`, `ZOOM_ACCOUNT_ID: account "E" is configured twice`, nil},
		{"empty", `[]`, "no accounts", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := c.Zoom.ReloadAccounts()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Fatalf("accounts %v, want %v", ids, tt.wantIDs)
			}
			if tt.name == "rotated" && (got[0].ClientID != "c2" || got[0].WebhookNext.Reveal() != "w2" || got[1].WebhookSecret.Reveal() != "we") {
				t.Fatalf("reloaded %+v", got)
			}
		})
	}
}
