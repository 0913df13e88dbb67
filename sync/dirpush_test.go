package zsync

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestDirectoryChangeRequeuesTheStatus: when the directory data a push
// carries changes (a link appears, changes or goes) and the status does
// not, the targets that receive directory data get the queued change once
// more, with a new seq and the same status, previous status and since; no
// history entry, status_since unchanged, the other targets not due. A link
// rewritten with the same pushed data queues nothing.
func TestDirectoryChangeRequeuesTheStatus(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour).WithPresence([]string{"cc", "pbx"}, time.Hour).WithDirectoryTargets([]string{"pbx"})
		o := s.Outbox()
		p := s.keys.partition("u1")
		apply := func(fields ...FieldWrite) {
			t.Helper()
			if _, err := s.Apply(ctx, Write{"A", "u1", fields}); err != nil {
				t.Fatal(err)
			}
		}
		link := func(min int, dn, uid, emp, title string) {
			t.Helper()
			v := PullVersion(t0.Add(time.Duration(min) * time.Minute))
			mapping := "matched"
			if dn == "" {
				mapping = "unmatched"
			}
			id := ""
			if dn != "" {
				id = "id-" + uid
			}
			apply(fw(FieldDirID, v, id), fw(FieldDirDN, v, dn), fw(FieldDirUID, v, uid), fw(FieldDirEmployeeNumber, v, emp),
				fw(FieldDirTitle, v, title), fw(FieldMapping, v, mapping), fw(FieldDirSum, v, dn+uid+emp+title))
		}
		deliverAll := func() {
			t.Helper()
			for _, target := range []string{"cc", "pbx"} {
				due, err := o.Due(ctx, "A", p, target, t0.Add(24*time.Hour), 10)
				if err != nil {
					t.Fatal(err)
				}
				pend, _ := o.Load(ctx, "A", p, target, due)
				for _, pd := range pend {
					if err := o.Settle(ctx, "A", p, target, pd.User, pd.Change.Seq); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		type state struct {
			queued    string // the outbox entry
			due       string // targets the user is due at
			seq       string
			since     string
			history   int
			status    string
			published bool
		}
		sub := rdb.Subscribe(ctx, PresenceChannel)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		// Drains what the channel got so far: a marker published after the
		// step arrives last.
		published := func() bool {
			t.Helper()
			// On a Cluster, messages of different nodes reach a
			// subscriber in no set order: the marker goes out from the
			// node the apply script runs on, so it follows its messages.
			var pub redis.Cmdable = rdb
			if cc, ok := rdb.(*redis.ClusterClient); ok {
				node, err := cc.MasterForKey(ctx, s.keys.outbox("A", p))
				if err != nil {
					t.Fatal(err)
				}
				pub = node
			}
			if err := pub.Publish(ctx, PresenceChannel, "marker").Err(); err != nil {
				t.Fatal(err)
			}
			got := false
			for {
				m, err := sub.ReceiveMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.Payload == "marker" {
					return got
				}
				got = true
			}
		}
		now := func() state {
			t.Helper()
			var st state
			st.queued = rdb.HGet(ctx, s.keys.outbox("A", p), "u1").Val()
			var due []string
			for _, target := range []string{"cc", "pbx"} {
				if u, _ := o.Due(ctx, "A", p, target, t0.Add(24*time.Hour), 10); len(u) == 1 {
					due = append(due, target)
				}
			}
			st.due = strings.Join(due, ",")
			r, err := s.User(ctx, "A", "u1")
			if err != nil {
				t.Fatal(err)
			}
			st.seq, st.since, st.status = r.Fields[FieldStatusSeq], r.Fields[FieldStatusSince], r.Fields[FieldStatus]
			h, _ := s.History(ctx, "A", "u1", time.Time{})
			st.history = len(h)
			st.published = published()
			return st
		}
		at := func(min int) string { return itoa(t0.Add(time.Duration(min) * time.Minute).UnixMilli()) }

		v0 := WebhookVersion(t0.UnixMilli())
		apply(fw(FieldUserStatus, v0, "active"), fw(FieldPresence, v0, "available"))
		want := state{"1|available||" + at(0), "cc,pbx", "1", at(0), 1, "available", true}
		if got := now(); got != want {
			t.Fatalf("first status: %+v, want %+v", got, want)
		}
		deliverAll()
		steps := []struct {
			name string
			do   func()
			want state
		}{
			{"the link appears", func() { link(1, "uid=jdoe,ou=people", "jdoe", "1234", "Engineer") },
				state{"2|available||" + at(0), "pbx", "2", at(0), 1, "available", true}},
			{"the same link rewritten (another entry field changed)", func() { link(2, "uid=jdoe,ou=people", "jdoe", "1234", "Manager") },
				state{"2|available||" + at(0), "", "2", at(0), 1, "available", true}},
			{"the employee number changes", func() { link(3, "uid=jdoe,ou=people", "jdoe", "4321", "Manager") },
				state{"3|available||" + at(0), "pbx", "3", at(0), 1, "available", true}},
			{"a status change after it", func() { apply(fw(FieldPresence, WebhookVersion(t0.Add(4*time.Minute).UnixMilli()), "away")) },
				state{"4|away|available|" + at(4), "cc,pbx", "4", at(4), 2, "away", true}},
			{"the link goes", func() { link(5, "", "", "", "") },
				state{"5|away|available|" + at(4), "pbx", "5", at(4), 2, "away", true}},
			{"an older link write changes nothing", func() { link(4, "uid=old,ou=people", "old", "1", "") },
				state{"5|away|available|" + at(4), "", "5", at(4), 2, "away", false}},
		}
		for _, st := range steps {
			st.do()
			if got := now(); got != st.want {
				t.Fatalf("%s: %+v, want %+v", st.name, got, st.want)
			}
			deliverAll()
		}
		h, _ := s.History(ctx, "A", "u1", time.Time{})
		if len(h) != 2 || h[1].Seq != 4 || h[1].Previous != "available" {
			t.Fatalf("history %+v", h)
		}

		// A user nothing is known of yet (no status queued) has nothing to
		// push again; a user without a record gets none from a link.
		v := PullVersion(t0)
		if _, err := s.ApplyBatch(ctx, []Write{
			{"A", "u2", []FieldWrite{fw(FieldEmail, v, "u2@example.com")}},
			{"A", "u2", []FieldWrite{fw(FieldDirID, v+2, "id-u2"), fw(FieldDirUID, v+2, "u2")}},
			{"A", "ghost", []FieldWrite{fw(FieldDirID, v+2, "id-ghost")}},
		}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"u2", "ghost"} {
			if q := rdb.HGet(ctx, s.keys.outbox("A", s.keys.partition(u)), u).Val(); q != "" {
				t.Fatalf("%s queued %q", u, q)
			}
		}
		if _, err := s.User(ctx, "A", "ghost"); err != ErrNotFound {
			t.Fatalf("a link made a record: %v", err)
		}
	})
}
