package zoomfake_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// wsFrame reads one frame from c as a map.
func wsFrame(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %q: %v", b, err)
	}
	return f
}

func wsDial(t *testing.T, e *env, sub *zoomfake.WSSubscription, token string) *websocket.Conn {
	t.Helper()
	u := sub.URL()
	if token != "" {
		u += "&access_token=" + url.QueryEscape(token)
	}
	c, _, err := websocket.Dial(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func TestWebSocketSubscriptionSpeaksZoomsFraming(t *testing.T) {
	e := setupWith(t, zoomfake.New(zoomfake.Options{}), 5)
	sub := e.acct.WebSocketSubscription("S1")
	code, tok := e.tokenRequest(t, url.Values{"grant_type": {"account_credentials"}, "account_id": {"A1"}}, false, basic("cid", "csecret"))
	if code != 200 {
		t.Fatalf("token: %d", code)
	}
	token := tok["access_token"].(string)

	// No token, and an unknown one: refused with Zoom's wordings.
	for _, tc := range []struct{ token, want string }{{"", "token is empty"}, {"nope", "Invalid Token"}} {
		c := wsDial(t, e, sub, tc.token)
		if f := wsFrame(t, c); f["module"] != "build_connection" || f["success"] != false || f["content"] != tc.want {
			t.Errorf("token %q: %v, want build_connection failure %q", tc.token, f, tc.want)
		}
	}
	sub.SetFaults(zoomfake.WSFaults{InvalidTokenWording: "Token is invalid"})
	if f := wsFrame(t, wsDial(t, e, sub, "nope")); f["content"] != "Token is invalid" {
		t.Errorf("newer wording: %v", f)
	}
	sub.SetFaults(zoomfake.WSFaults{})

	first := wsDial(t, e, sub, token)
	if f := wsFrame(t, first); f["module"] != "build_connection" || f["success"] != true {
		t.Fatalf("first connection: %v", f)
	}
	ctx := context.Background()
	if err := first.Write(ctx, websocket.MessageText, []byte(`{"module":"heartbeat"}`)); err != nil {
		t.Fatal(err)
	}
	if f := wsFrame(t, first); f["module"] != "heartbeat" || f["success"] != true || f["content"] != "live" {
		t.Errorf("heartbeat answer: %v", f)
	}
	u := e.acct.Users()[0]
	ev, err := e.acct.PresenceEvent(u.ID, "Away")
	if err != nil {
		t.Fatal(err)
	}
	if !sub.Send(ev) {
		t.Fatal("not sent")
	}
	f := wsFrame(t, first)
	content, isString := f["content"].(string)
	if f["module"] != "message" || !isString || content != string(ev.Body) {
		t.Errorf("event frame: %v; want the event as a string (double-encoded)", f)
	}

	// A second connection closes the first (Zoom's rule), counted.
	second := wsDial(t, e, sub, token)
	wsFrame(t, second)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, err := first.Read(rctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("first connection after the second opened: %v, want a close", err)
	}
	st := sub.Stats()
	if st.Overlaps != 1 || st.ClosedByOther != 1 || st.MaxOpen != 2 || st.Connections != 2 || st.Refused != 3 || st.Heartbeats != 1 {
		t.Errorf("stats %+v", st)
	}
	sub.Drop()
	if sub.Send(ev) {
		t.Error("an event with no connection open was sent")
	}
	if st := sub.Stats(); st.Lost != 1 || st.Delivered != 1 {
		t.Errorf("delivered %d, lost %d", st.Delivered, st.Lost)
	}
}
