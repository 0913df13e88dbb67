package gaprepair_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/sync/gaprepair"
	"github.com/zoomsync/zoomsync/zoomapi"
)

func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestMarksStartTheNextGapAtTheEarlierOfAliveAndAnUnrepairedGap(t *testing.T) {
	ctx := context.Background()
	m := gaprepair.NewMarks(newRedis(t))
	at := func(s int) time.Time { return time.UnixMilli(1_700_000_000_000 + int64(s)*1000) }
	steps := []struct {
		name string
		do   func() error
		want time.Time
	}{
		{"nothing recorded", func() error { return nil }, time.Time{}},
		{"alive at 10", func() error { return m.MarkAlive(ctx, "s", at(10)) }, at(10)},
		{"a gap from 10 awaits repair, alive again at 20", func() error {
			if err := m.RepairFrom(ctx, "s", at(10)); err != nil {
				return err
			}
			return m.MarkAlive(ctx, "s", at(20))
		}, at(10)},
		{"a later gap keeps the earlier start", func() error { return m.RepairFrom(ctx, "s", at(20)) }, at(10)},
		{"a repair from 20 does not cover 10", func() error { return m.Repaired(ctx, "s", at(20)) }, at(10)},
		{"a repair from 10 does", func() error { return m.Repaired(ctx, "s", at(10)) }, at(20)},
		{"an unknown start is earliest", func() error { return m.RepairFrom(ctx, "s", time.Time{}) }, time.Time{}},
		{"and is cleared by a repair from unknown", func() error { return m.Repaired(ctx, "s", time.Time{}) }, at(20)},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := m.LastAlive(ctx, "s")
		if err != nil || !got.Equal(st.want) {
			t.Errorf("%s: LastAlive = %v, %v; want %v", st.name, got, err, st.want)
		}
	}
}

// presenceAt is Zoom's presence per user, and the order it was read in.
type presenceAt struct {
	mu     sync.Mutex
	status map[string]string
	read   []string
	fail   error
	calls  chan struct{}
}

func (p *presenceAt) GetPresence(_ context.Context, id string) (*zoomapi.Presence, *zoomapi.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls != nil {
		select {
		case p.calls <- struct{}{}:
		default:
		}
	}
	if p.fail != nil {
		return nil, nil, p.fail
	}
	p.read = append(p.read, id)
	return &zoomapi.Presence{Status: p.status[id]}, nil, nil
}

type results struct {
	done chan string
}

func (r *results) RepairStarted(string, time.Duration, int) {}
func (r *results) RepairProgress(string, int, int)          {}
func (r *results) RepairFinished(_, result string, _ time.Duration) {
	r.done <- result
}

func TestRepairRereadsMostRecentlyActiveFirstAndPullsUsersFirst(t *testing.T) {
	ctx := context.Background()
	rdb := newRedis(t)
	store := zsync.NewStore(rdb, 4, 168*time.Hour)
	base := time.UnixMilli(1_700_000_000_000)
	// u1..u5 confirmed at 1..5 s; u6 confirmed after the gap ended.
	for i, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		v := zsync.PullVersion(base.Add(time.Duration(i+1) * time.Second))
		if _, err := store.Apply(ctx, zsync.Write{Account: "a", UserKey: u, Fields: []zsync.FieldWrite{
			{Name: zsync.FieldUserStatus, Version: v, Value: "active"},
			{Name: zsync.FieldZoomStatus, Version: v, Value: "Away"},
			{Name: zsync.FieldPresence, Version: v, Value: "away"}}}); err != nil {
			t.Fatal(err)
		}
		if err := store.Touch(ctx, "a", u, base.Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	zoom := &presenceAt{status: map[string]string{"u1": "Available", "u2": "Available", "u3": "Do_Not_Disturb", "u4": "Available", "u5": "Available", "u6": "Available"}}
	pulled := make(chan struct{}, 1)
	res := &results{done: make(chan string, 4)}
	r := gaprepair.New(gaprepair.Options{Store: store, ReadsPerSecond: 100, Observer: res, Marks: gaprepair.NewMarks(rdb),
		Accounts: []gaprepair.Account{{ID: "a", Presence: zoom, PullUsers: func(context.Context) error {
			zoom.mu.Lock()
			defer zoom.mu.Unlock()
			if len(zoom.read) > 0 {
				t.Error("presence read before the users were pulled")
			}
			pulled <- struct{}{}
			return nil
		}}}})
	r.Repair(ctx, "a", "sub", base, base.Add(5500*time.Millisecond))
	if got := <-res.done; got != gaprepair.ResultComplete {
		t.Fatalf("result %s", got)
	}
	r.Wait()
	<-pulled
	want := []string{"u5", "u4", "u3", "u2", "u1"}
	if len(zoom.read) != len(want) {
		t.Fatalf("read %v, want %v (u6 was confirmed after the gap)", zoom.read, want)
	}
	for i := range want {
		if zoom.read[i] != want[i] {
			t.Fatalf("read %v, want %v: most recently active first", zoom.read, want)
		}
	}
	rec, err := store.User(ctx, "a", "u3")
	if err != nil || rec.Fields[zsync.FieldPresence] != "dnd" {
		t.Errorf("u3 after the repair: %v %v", rec, err)
	}
	if last, _ := gaprepair.NewMarks(rdb).LastAlive(ctx, "sub"); !last.IsZero() {
		t.Errorf("a completed repair left its start recorded: %v", last)
	}
}

func TestRepairFailedIsRecordedAndRunsAgain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := newRedis(t)
	store := zsync.NewStore(rdb, 4, 168*time.Hour)
	now := time.UnixMilli(1_700_000_000_000)
	if _, err := store.Apply(ctx, zsync.Write{Account: "a", UserKey: "u1", Fields: []zsync.FieldWrite{
		{Name: zsync.FieldUserStatus, Version: zsync.PullVersion(now), Value: "active"}}}); err != nil {
		t.Fatal(err)
	}
	zoom := &presenceAt{status: map[string]string{"u1": "Away"}, fail: errs.E("test", errs.Transient, errors.New("zoom is down"))}
	res := &results{done: make(chan string, 4)}
	marks := gaprepair.NewMarks(rdb)
	r := gaprepair.New(gaprepair.Options{Store: store, ReadsPerSecond: 100, Observer: res, Marks: marks, RetryAfter: time.Millisecond,
		Accounts: []gaprepair.Account{{ID: "a", Presence: zoom}}})
	gapStart := now.Add(-time.Minute)
	r.Repair(ctx, "a", "sub", gapStart, now.Add(time.Second))
	if got := <-res.done; got != gaprepair.ResultFailed {
		t.Fatalf("result %s, want failed", got)
	}
	if last, _ := marks.LastAlive(ctx, "sub"); !last.Equal(gapStart) {
		t.Errorf("the failed repair's start is not kept for the next connection: %v", last)
	}
	zoom.mu.Lock()
	zoom.fail = nil
	zoom.mu.Unlock()
	for got := range res.done {
		if got == gaprepair.ResultComplete {
			break
		}
	}
	cancel()
	r.Wait()
	if last, _ := marks.LastAlive(ctx, "sub"); !last.IsZero() {
		t.Errorf("start still recorded after the repair completed: %v", last)
	}
}
