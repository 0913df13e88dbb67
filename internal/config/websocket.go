package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultWebSocketURL is Zoom's WebSocket endpoint for event
// subscriptions (the only host Zoom documents); the subscription id goes
// in its query string.
const DefaultWebSocketURL = "wss://ws.zoom.us/ws"

// WebSocket tunes every WebSocket event subscription.
type WebSocket struct {
	// Heartbeat is how often {"module":"heartbeat"} is sent (Zoom: 30 s).
	Heartbeat time.Duration
	// ReadTimeout: a connection on which nothing arrived for this long
	// (not even a heartbeat's answer) is replaced.
	ReadTimeout time.Duration
	// RepairReadsPerSecond bounds the REST presence re-reads that repair
	// a connection's gap, per account.
	RepairReadsPerSecond float64
}

// WebSocketEndpoint is the account's WebSocket subscription: its id and
// the endpoint URL without a token; ok false when the account has none.
func (a Account) WebSocketEndpoint() (id, endpoint string, ok bool) {
	if a.WebSocketURL == "" && a.WebSocketSubscriptionID == "" {
		return "", "", false
	}
	if a.WebSocketURL == "" {
		return a.WebSocketSubscriptionID, DefaultWebSocketURL + "?subscriptionId=" + url.QueryEscape(a.WebSocketSubscriptionID), true
	}
	u, _ := url.Parse(a.WebSocketURL) // checked by checkWebSocket
	return u.Query().Get("subscriptionId"), a.WebSocketURL, true
}

// checkWebSocket validates an account's subscription fields: the URL, if
// given, is a ws(s) URL with a subscriptionId and no token, and agrees
// with the id when both are given.
func checkWebSocket(a *Account) error {
	if a.WebSocketURL == "" {
		if a.WebSocketSubscriptionID != "" && strings.ContainsAny(a.WebSocketSubscriptionID, " /?&=#") {
			return fmt.Errorf("websocket_subscription_id %q is not a subscription id (copy the subscriptionId from the endpoint URL)", a.WebSocketSubscriptionID)
		}
		return nil
	}
	u, err := url.Parse(a.WebSocketURL)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("websocket_url must be the endpoint URL the Marketplace shows, such as %s?subscriptionId=…", DefaultWebSocketURL)
	}
	q := u.Query()
	if q.Get("access_token") != "" {
		return fmt.Errorf("websocket_url must not carry an access_token: zoomsync adds a fresh one to every connection")
	}
	id := q.Get("subscriptionId")
	switch {
	case id == "":
		return fmt.Errorf("websocket_url has no subscriptionId in its query string")
	case a.WebSocketSubscriptionID != "" && a.WebSocketSubscriptionID != id:
		return fmt.Errorf("websocket_subscription_id %q differs from the subscriptionId of websocket_url %q; give one of them", a.WebSocketSubscriptionID, id)
	}
	return nil
}

// uniqueSubscriptions refuses one subscription configured for two
// accounts: it belongs to the account that created it.
func uniqueSubscriptions(accounts []Account) error {
	owner := map[string]string{}
	for _, a := range accounts {
		id, _, ok := a.WebSocketEndpoint()
		if !ok {
			continue
		}
		if prev, dup := owner[id]; dup {
			return bad("ZOOMSYNC_ACCOUNTS_FILE", "WebSocket subscription %q is configured for accounts %s and %s; a subscription belongs to one account", id, prev, a.ID)
		}
		owner[id] = a.ID
	}
	return nil
}

func parseWebSocket(r *raw, c *Config) error {
	dur := func(name, v string, least time.Duration) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < least {
			return 0, bad(name, "must be a duration of at least %s, got %q", least, v)
		}
		return d, nil
	}
	var err error
	ws := WebSocket{}
	if ws.Heartbeat, err = dur("ZOOMSYNC_WEBSOCKET_HEARTBEAT", r.WebSocketHeartbeat, 10*time.Millisecond); err != nil {
		return err
	}
	if ws.ReadTimeout, err = dur("ZOOMSYNC_WEBSOCKET_READ_TIMEOUT", r.WebSocketReadTimeout, 10*time.Millisecond); err != nil {
		return err
	}
	if ws.ReadTimeout <= ws.Heartbeat {
		return bad("ZOOMSYNC_WEBSOCKET_READ_TIMEOUT", "must be longer than ZOOMSYNC_WEBSOCKET_HEARTBEAT (%v): every heartbeat is answered, so a quiet but healthy connection hears something each heartbeat", ws.Heartbeat)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(r.WebSocketRepairRate), 64)
	if err != nil || f <= 0 || f > 100 {
		return bad("ZOOMSYNC_WEBSOCKET_REPAIR_READS_PER_SECOND", "must be a number above 0 and at most 100, got %q", r.WebSocketRepairRate)
	}
	ws.RepairReadsPerSecond = f
	c.WebSocket = ws
	return nil
}
