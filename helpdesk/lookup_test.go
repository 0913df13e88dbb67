package helpdesk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/readmodel"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// TestUserShowsOpenCalls: GET /v1/users/{key} lists the user's open calls
// (id, and since: when each began) rather than the apply script's raw
// calls field, which is not a Zoom field and is left out of zoom.
func TestUserShowsOpenCalls(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	store := zsync.NewStore(rdb, 4, time.Hour).WithPresence(nil, time.Hour)
	began := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	v := func(t time.Time) zsync.Version { return zsync.WebhookVersion(t.UnixMilli()) }
	if _, err := store.Apply(ctx, zsync.Write{Account: "A", UserKey: "u1", Fields: []zsync.FieldWrite{
		{Name: zsync.FieldUserStatus, Version: v(began), Value: "active"},
		{Name: zsync.FieldEmail, Version: v(began), Value: "ada@example.com"},
		{Name: zsync.CallField("1001"), Version: v(began), Value: zsync.CallOpen},
		{Name: zsync.CallField("1002"), Version: v(began.Add(time.Minute)), Value: zsync.CallOpen},
		{Name: zsync.CallField("1003"), Version: v(began.Add(2 * time.Minute)), Value: zsync.CallEnded},
	}}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(rdb, store, Options{Accounts: []string{"A"}, Tokens: []secret.Secret{secret.New("token")}, Limits: DefaultLimits()}).Register(mux)
	req := httptest.NewRequest(http.MethodGet, "/v1/users/ada@example.com", nil)
	req.Header.Set("Authorization", "Bearer token")
	w := httptest.NewRecorder()
	JSONErrors(mux).ServeHTTP(w, req)
	var got struct {
		Zoom  map[string]string `json:"zoom"`
		Calls []struct {
			ID    string    `json:"id"`
			Since time.Time `json:"since"`
		} `json:"calls"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if len(got.Calls) != 2 || got.Calls[0].ID != "1001" || !got.Calls[0].Since.Equal(began) ||
		got.Calls[1].ID != "1002" || !got.Calls[1].Since.Equal(began.Add(time.Minute)) {
		t.Errorf("calls %+v", got.Calls)
	}
	if _, ok := got.Zoom[zsync.FieldCalls]; ok || got.Zoom[zsync.FieldCallState] != "on_call" {
		t.Errorf("zoom fields %v", got.Zoom)
	}
}

// TestKeyKindsFollowTheProfile: the messages that list what a key can be
// are made from the lookup keys of mapstore.Profile, and read as before.
func TestKeyKindsFollowTheProfile(t *testing.T) {
	if want := "Zoom id, email, extension, directory uid or employee number"; keyKinds != want {
		t.Fatalf("key kinds %q, want %q", keyKinds, want)
	}
}

// TestLookupFallsBackToRedis: a key the read model does not hold (a user
// stored after its load, not yet fed to it) is looked up in Redis, and a
// key it holds is answered from it.
func TestLookupFallsBackToRedis(t *testing.T) {
	ctx := context.Background()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	store := zsync.NewStore(rdb, 4, time.Hour).WithPresence(nil, time.Hour)
	v := zsync.WebhookVersion(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC).UnixMilli())
	add := func(key, email, presence string) {
		if _, err := store.Apply(ctx, zsync.Write{Account: "A", UserKey: key, Fields: []zsync.FieldWrite{
			{Name: zsync.FieldUserStatus, Version: v, Value: "active"}, {Name: zsync.FieldEmail, Version: v, Value: email},
			{Name: zsync.FieldPresence, Version: v, Value: presence}}}); err != nil {
			t.Fatal(err)
		}
	}
	add("u1", "ada@example.com", "available")
	model := readmodel.New(rdb, store, readmodel.Options{Accounts: []string{"A"}})
	if err := model.Load(ctx, "start"); err != nil {
		t.Fatal(err)
	}
	add("u2", "grace@example.com", "away") // after the load: Redis only
	mux := http.NewServeMux()
	New(rdb, store, Options{Accounts: []string{"A"}, Tokens: []secret.Secret{secret.New("token")}, Limits: DefaultLimits(), Model: model}).Register(mux)
	for _, tc := range []struct {
		key, user string
		status    presence.Status
	}{{"ADA@example.com", "u1", presence.Available}, {"grace@example.com", "u2", presence.Away}, {"u2", "u2", presence.Away}} {
		req := httptest.NewRequest(http.MethodGet, "/v1/presence/"+tc.key, nil)
		req.Header.Set("Authorization", "Bearer token")
		w := httptest.NewRecorder()
		JSONErrors(mux).ServeHTTP(w, req)
		var got Presence
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || got.ZoomUserID != tc.user || got.Status != tc.status {
			t.Fatalf("%s: %d %s", tc.key, w.Code, w.Body)
		}
	}
}
