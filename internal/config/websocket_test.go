package config

import (
	"strings"
	"testing"
	"time"
)

func TestWebSocketSubscriptionConfiguration(t *testing.T) {
	creds := map[string]string{"ZOOM_ACCOUNT_ID": "a1", "ZOOM_CLIENT_ID": "c", "ZOOM_CLIENT_SECRET": "s"}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range creds {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	cases := []struct {
		name         string
		env          map[string]string
		wantID       string
		wantEndpoint string
		wantErr      string // the variable named
	}{
		{"none", with(), "", "", ""},
		{"id", with("ZOOM_WEBSOCKET_SUBSCRIPTION_ID", "ZhPGtK84QbapRWXzEBW7MA"), "ZhPGtK84QbapRWXzEBW7MA", "wss://ws.zoom.us/ws?subscriptionId=ZhPGtK84QbapRWXzEBW7MA", ""},
		{"url", with("ZOOM_WEBSOCKET_URL", "wss://ws.zoom.us/ws?subscriptionId=abc"), "abc", "wss://ws.zoom.us/ws?subscriptionId=abc", ""},
		{"both agreeing", with("ZOOM_WEBSOCKET_URL", "wss://ws.zoom.us/ws?subscriptionId=abc", "ZOOM_WEBSOCKET_SUBSCRIPTION_ID", "abc"), "abc", "wss://ws.zoom.us/ws?subscriptionId=abc", ""},
		{"both differing", with("ZOOM_WEBSOCKET_URL", "wss://ws.zoom.us/ws?subscriptionId=abc", "ZOOM_WEBSOCKET_SUBSCRIPTION_ID", "xyz"), "", "", "ZOOM_WEBSOCKET_URL"},
		{"https url", with("ZOOM_WEBSOCKET_URL", "https://ws.zoom.us/ws?subscriptionId=abc"), "", "", "ZOOM_WEBSOCKET_URL"},
		{"url without id", with("ZOOM_WEBSOCKET_URL", "wss://ws.zoom.us/ws"), "", "", "ZOOM_WEBSOCKET_URL"},
		{"url with a token", with("ZOOM_WEBSOCKET_URL", "wss://ws.zoom.us/ws?subscriptionId=abc&access_token=eyJ"), "", "", "ZOOM_WEBSOCKET_URL"},
		{"id without account", map[string]string{"ZOOM_WEBSOCKET_SUBSCRIPTION_ID": "abc"}, "", "", "ZOOM_WEBSOCKET_SUBSCRIPTION_ID"},
		{"read timeout not above heartbeat", with("ZOOMSYNC_WEBSOCKET_READ_TIMEOUT", "30s"), "", "", "ZOOMSYNC_WEBSOCKET_READ_TIMEOUT"},
		{"repair rate zero", with("ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND", "0"), "", "", "ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr+":") {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "eyJ") {
					t.Errorf("error quotes the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id, endpoint, ok := c.Zoom.Accounts[0].WebSocketEndpoint()
			if ok != (tc.wantID != "") || id != tc.wantID || endpoint != tc.wantEndpoint {
				t.Errorf("endpoint = %q %q %v, want %q %q", id, endpoint, ok, tc.wantID, tc.wantEndpoint)
			}
			if c.WebSocket.Heartbeat != 30*time.Second || c.WebSocket.ReadTimeout != 60*time.Second || c.WebSocket.RepairReadsPerSecond != 10 {
				t.Errorf("defaults = %+v", c.WebSocket)
			}
		})
	}
}

func TestWebSocketSubscriptionInAccountsFile(t *testing.T) {
	good := writeFile(t, "a.json", `[{"account_id":"a1","client_id":"c","client_secret":"s","websocket_subscription_id":"sub1"},
		{"account_id":"a2","client_id":"c2","client_secret":"s2","webhook_secret_token":"w","websocket_url":"wss://ws.zoom.us/ws?subscriptionId=sub2"}]`)
	c, err := load(t, map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": good})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"sub1", "sub2"} {
		if id, _, _ := c.Zoom.Accounts[i].WebSocketEndpoint(); id != want {
			t.Errorf("account %d subscription = %q, want %q", i, id, want)
		}
	}
	dup := writeFile(t, "d.json", `[{"account_id":"a1","client_id":"c","client_secret":"s","websocket_subscription_id":"sub1"},
		{"account_id":"a2","client_id":"c2","client_secret":"s2","websocket_url":"wss://ws.zoom.us/ws?subscriptionId=sub1"}]`)
	if _, err := load(t, map[string]string{"ZOOMSYNC_ACCOUNTS_FILE": dup}); err == nil || !strings.Contains(err.Error(), "sub1") {
		t.Errorf("one subscription for two accounts: err = %v", err)
	}
}
