package webhook

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/secret"
)

// rotatingMap is an Accounts whose accounts carry a current and a next
// secret token.
type rotatingMap map[string][2]string

func (m rotatingMap) WebhookSecret(id string) (secret.Secret, bool) {
	s, ok := m[id]
	return secret.New(s[0]), ok
}

func (m rotatingMap) WebhookSecrets(id string) (current, next secret.Secret, ok bool) {
	s, ok := m[id]
	return secret.New(s[0]), secret.New(s[1]), ok
}

func TestHandlerSecretRotation(t *testing.T) {
	const oldSecret, newSecret = "old-webhook-secret", "new-webhook-secret"
	validation := []byte(`{"payload":{"plainToken":"plain-1"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)
	tests := []struct {
		name     string
		accounts Accounts
		signWith string
		body     []byte
		status   int
		answer   string // the secret the URL validation answer must be computed with
	}{
		{"current verifies", rotatingMap{testAccount: {oldSecret, newSecret}}, oldSecret, presenceBody(testAccount), http.StatusOK, ""},
		{"next verifies", rotatingMap{testAccount: {oldSecret, newSecret}}, newSecret, presenceBody(testAccount), http.StatusOK, ""},
		{"neither", rotatingMap{testAccount: {oldSecret, newSecret}}, "guess", presenceBody(testAccount), http.StatusUnauthorized, ""},
		{"after the rotation the old one is refused", rotatingMap{testAccount: {newSecret, ""}}, oldSecret, presenceBody(testAccount), http.StatusUnauthorized, ""},
		{"validation signed with the current one is answered with it", rotatingMap{testAccount: {oldSecret, newSecret}}, oldSecret, validation, http.StatusOK, oldSecret},
		{"validation signed with the next one is answered with it", rotatingMap{testAccount: {oldSecret, newSecret}}, newSecret, validation, http.StatusOK, newSecret},
		// An account configured without a secret token: an HMAC keyed with
		// "" is one anybody can compute, so nothing verifies.
		{"no secret configured", accountMap{testAccount: ""}, "", presenceBody(testAccount), http.StatusUnauthorized, ""},
		{"no secret configured, validation", accountMap{testAccount: ""}, "", validation, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clockwork.NewFakeClockAt(time.Unix(1_800_000_000, 0))
			mux := http.NewServeMux()
			var logs bytes.Buffer
			NewHandler(HandlerOptions{Accounts: tt.accounts, Sink: &memorySink{}, Clock: clock,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Register(mux)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/"+testAccount, bytes.NewReader(tt.body))
			SignRequest(req.Header, tt.signWith, clock.Now(), tt.body) // "" signs with the empty key
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.answer != "" {
				var got URLValidation
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got != ValidateURL(tt.answer, "plain-1") {
					t.Fatalf("validation answer %s (err %v), want the one of the secret that signed it", rec.Body, err)
				}
			}
			for _, s := range []string{oldSecret, newSecret} {
				if bytes.Contains(logs.Bytes(), []byte(s)) || bytes.Contains(rec.Body.Bytes(), []byte(s)) {
					t.Fatalf("a secret leaked: %s %s", logs.String(), rec.Body)
				}
			}
		})
	}
}
