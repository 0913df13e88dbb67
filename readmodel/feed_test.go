package readmodel

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// loads tells a test about every load.
type loads chan string

func (l loads) Loaded(_ int, _ time.Duration, reason string) { l <- reason }
func (l loads) Drifted(int)                                  {}
func (l loads) Looked(bool)                                  {}

func waitLoad(t *testing.T, l loads, reason string) {
	t.Helper()
	for {
		select {
		case got := <-l:
			if got == reason {
				return
			}
		case <-time.After(time.Minute):
			t.Fatalf("no %s load", reason)
		}
	}
}

// waitFor reads changes until one satisfies ok.
func waitFor(t *testing.T, changes <-chan Person, what string, ok func(Person) bool) {
	t.Helper()
	for {
		select {
		case p := <-changes:
			if ok(p) {
				return
			}
		case <-time.After(time.Minute):
			t.Fatalf("never saw %s", what)
		}
	}
}

func write(t *testing.T, store *zsync.Store, user string, at time.Time, fields ...string) {
	t.Helper()
	w := zsync.Write{Account: "A", UserKey: user}
	for i := 0; i < len(fields); i += 2 {
		w.Fields = append(w.Fields, zsync.FieldWrite{Name: fields[i], Version: zsync.WebhookVersion(at.UnixMilli()), Value: fields[i+1]})
	}
	if _, err := store.Apply(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}

func one(t *testing.T, m *Model, key string) Person {
	t.Helper()
	ps, held := m.Lookup(key)
	if !held || len(ps) != 1 {
		t.Fatalf("lookup %q: held %v, %d people", key, held, len(ps))
	}
	return ps[0]
}

// TestModelFollowsRedis: two models on one Redis load what is stored,
// see every applied change (status or not) through the channel, reload
// after losing their subscription, and find by a drift check what was
// changed behind the apply script's back.
func TestModelFollowsRedis(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	rdb := r.Client()
	store := zsync.NewStore(rdb, 4, time.Hour)
	t0 := time.Now().Add(-time.Hour)
	for i := range 50 {
		write(t, store, fmt.Sprintf("u%d", i), t0, zsync.FieldUserStatus, "active", zsync.FieldEmail, fmt.Sprintf("User%d@Example.com", i),
			zsync.FieldDisplayName, fmt.Sprintf("User %d", i), zsync.FieldPresence, "available", zsync.FieldExtension, fmt.Sprint(100+i))
	}
	var models [2]*Model
	var changes [2]<-chan Person
	var loaded [2]loads
	for i := range models {
		loaded[i] = make(loads, 16)
		models[i] = New(redis.NewClient(r.Options()), store, Options{Accounts: []string{"A"}, Observer: loaded[i], DriftEvery: time.Hour,
			MappingEvery: time.Hour}) // a publication is announced
		var stop func()
		changes[i], stop = models[i].Subscribe(1000)
		defer stop()
		go models[i].Run(ctx)
		waitLoad(t, loaded[i], "start")
	}
	m := models[0]
	if m.Len() != 50 || one(t, m, "user7@example.com").Key != "u7" || one(t, m, "107").Key != "u7" || one(t, m, "u7").Email != "User7@Example.com" {
		t.Fatalf("after the load: %d users, %+v", m.Len(), one(t, m, "u7"))
	}
	if _, held := m.Lookup("nobody@example.com"); held {
		t.Fatal("an unknown key is held")
	}

	t.Run("a status change reaches both", func(t *testing.T) {
		write(t, store, "u3", t0.Add(time.Minute), zsync.FieldPresence, "away")
		for i := range models {
			waitFor(t, changes[i], "u3 away", func(p Person) bool { return p.Key == "u3" && p.Status == presence.Away })
			if got := one(t, models[i], "u3"); got.Status != presence.Away {
				t.Fatalf("model %d: %+v", i, got)
			}
		}
	})
	t.Run("an email change reaches both", func(t *testing.T) {
		write(t, store, "u4", t0.Add(time.Minute), zsync.FieldEmail, "renamed@example.com")
		for i := range models {
			waitFor(t, changes[i], "u4 renamed", func(p Person) bool { return p.Key == "u4" && p.Email == "renamed@example.com" })
			if one(t, models[i], "RENAMED@example.com").Key != "u4" {
				t.Fatal("new email not found")
			}
			if _, held := models[i].Lookup("user4@example.com"); held {
				t.Fatal("old email still held")
			}
		}
	})
	t.Run("a lost subscription reloads", func(t *testing.T) {
		// Changed without an announcement: only a load can see it.
		if err := rdb.HSet(ctx, userKey(store, rdb, "u5"), zsync.FieldDisplayName, "Quietly Renamed").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		for i := range models {
			waitLoad(t, loaded[i], "gap")
			if got := one(t, models[i], "u5"); got.DisplayName != "Quietly Renamed" {
				t.Fatalf("model %d after the gap: %+v", i, got)
			}
		}
	})
	t.Run("a published mapping is loaded", func(t *testing.T) {
		// The directory's mail is a lookup key records do not carry: only
		// a load after the publication can answer it.
		if v := m.MappingVersion(); v != "" {
			t.Fatalf("mapping version %q before any publication", v)
		}
		var d mapstore.IndexDigest
		d.Add("dir.nine@corp.example.com", "A/u9")
		at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		if err := mapstore.Publish(ctx, rdb, mapstore.View{Computed: at, Complete: true, Indices: map[string]mapstore.LookupIndex{
			"mail": {Digest: d, Build: func() map[string]string { return map[string]string{"dir.nine@corp.example.com": "A/u9"} }}}}); err != nil {
			t.Fatal(err)
		}
		for i := range models {
			waitLoad(t, loaded[i], "mapping")
			if got := one(t, models[i], "Dir.Nine@corp.example.com"); got.Key != "u9" {
				t.Fatalf("model %d: %+v", i, got)
			}
			if v := models[i].MappingVersion(); v != at.Format(time.RFC3339Nano) {
				t.Fatalf("model %d holds mapping %q, want %s", i, v, at.Format(time.RFC3339Nano))
			}
		}
		// The same version again is not a reason to reload.
		select {
		case reason := <-loaded[0]:
			t.Fatalf("a %s load without a new publication", reason)
		case <-time.After(100 * time.Millisecond):
		}
	})
	t.Run("drift is found", func(t *testing.T) {
		k := userKey(store, rdb, "u6")
		if err := rdb.HSet(ctx, k, "vmax", "1", zsync.FieldDisplayName, "Drifted").Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Del(ctx, userKey(store, rdb, "u8")).Err(); err != nil {
			t.Fatal(err)
		}
		n, err := m.Drift(ctx)
		if err != nil || n != 2 {
			t.Fatalf("drift %d %v, want 2", n, err)
		}
		waitFor(t, changes[0], "u6 re-read", func(p Person) bool { return p.Key == "u6" && p.DisplayName == "Drifted" })
		if _, held := m.Lookup("u8"); held || m.Len() != 49 {
			t.Fatalf("deleted user still held (%d users)", m.Len())
		}
		if n, err := m.Drift(ctx); err != nil || n != 0 {
			t.Fatalf("second drift check: %d %v", n, err)
		}
	})
}

// userKey finds a user's hash (the store's keyspace is its own).
func userKey(_ *zsync.Store, rdb redis.UniversalClient, user string) string {
	keys, _ := rdb.Keys(context.Background(), "zs:{a:A:p:*}:u:"+user).Result()
	if len(keys) != 1 {
		panic(fmt.Sprintf("user %s: keys %v", user, keys))
	}
	return keys[0]
}

// TestRunStopsWithItsContext: Run returns once ctx ends, without waiting
// for the channel's receive to time out (30 s: serve's shutdown waited
// for it).
func TestRunStopsWithItsContext(t *testing.T) {
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	l := make(loads, 4)
	m := New(r.Client(), zsync.NewStore(r.Client(), 4, time.Hour), Options{Accounts: []string{"A"}, Observer: l})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	waitLoad(t, l, "start")
	cancel()
	select {
	case <-done:
	case <-time.After(25 * time.Second):
		t.Fatal("Run still running 25 s after its context ended")
	}
}
