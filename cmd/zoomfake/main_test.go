package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestRunServesZoomAndDeliversWebhooks: the fake answers Zoom's token
// endpoint for the configured account and delivers signed webhooks to
// the configured URL.
func TestRunServesZoomAndDeliversWebhooks(t *testing.T) {
	got := make(chan *http.Request, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r:
		default:
		}
	}))
	defer receiver.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := map[string]string{
		"ZOOMFAKE_ADDR": addr, "ZOOMFAKE_URL": "http://" + addr, "ZOOMFAKE_ACCOUNT_ID": "acct",
		"ZOOMFAKE_CLIENT_SECRET": "client-secret", "ZOOMFAKE_WEBHOOK_SECRET": "webhook-secret",
		"ZOOMFAKE_USERS": "5", "ZOOMFAKE_RATE": "50", "ZOOMFAKE_WEBHOOK_URL": receiver.URL + "/webhooks/zoom/acct",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.DiscardHandler), func(k string) string { return env[k] }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	r := <-got
	if r.URL.Path != "/webhooks/zoom/acct" || r.Header.Get("x-zm-signature") == "" {
		t.Errorf("webhook %s with signature %q", r.URL.Path, r.Header.Get("x-zm-signature"))
	}
	// It listens before the first webhook goes out; ask for a token.
	form := url.Values{"grant_type": {"account_credentials"}, "account_id": {"acct"}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("acct-client", "client-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "access_token") {
		t.Errorf("token: %d %s", resp.StatusCode, body)
	}
}

func TestRunRefusesMissingSecrets(t *testing.T) {
	err := run(context.Background(), slog.New(slog.DiscardHandler), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "ZOOMFAKE_CLIENT_SECRET") {
		t.Errorf("got %v", err)
	}
}
