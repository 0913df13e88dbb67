package zsync

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/errs"
)

func callAt(id string, sec int, state string) FieldWrite {
	return fw(CallField(id), WebhookVersion(t0.Add(time.Duration(sec)*time.Second).UnixMilli()), state)
}

func openIDs(r *Record) string {
	var ids []string
	for _, c := range r.Calls() {
		if c.Open {
			ids = append(ids, c.ID)
		}
	}
	return strings.Join(ids, ",")
}

// TestCallsStayBounded: a hostile or broken stream of call ids does not
// grow a record: at most MaxOpenCalls open (opening one more ends the
// oldest), at most MaxEndedCalls remembered, and an event about a
// forgotten call older than what is remembered changes nothing.
func TestCallsStayBounded(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		apply := func(user string, fields ...FieldWrite) int {
			t.Helper()
			n, err := s.Apply(ctx, Write{"A", user, fields})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		record := func(user string) *Record {
			t.Helper()
			r, err := s.User(ctx, "A", user)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		p := s.keys.partition("flood")

		// 1,000 calls opened, in batches of 50 (one batch of a consumer).
		for b := 0; b < 20; b++ {
			var fields []FieldWrite
			for i := 0; i < 50; i++ {
				fields = append(fields, callAt(fmt.Sprint(b*50+i), b*50+i, CallOpen))
			}
			if n := apply("flood", fields...); n != 50 {
				t.Fatalf("batch %d: %d facts applied, want 50", b, n)
			}
		}
		r := record("flood")
		calls := r.Calls()
		var open, ended int
		for _, c := range calls {
			if c.Open {
				open++
			} else {
				ended++
			}
		}
		if open != MaxOpenCalls || ended != MaxEndedCalls || r.Fields[FieldCallState] != "on_call" {
			t.Fatalf("%d open, %d ended (%d bytes), call_state %q; want %d and %d", open, ended, len(r.Fields[FieldCalls]),
				r.Fields[FieldCallState], MaxOpenCalls, MaxEndedCalls)
		}
		if want := "992,993,994,995,996,997,998,999"; openIDs(r) != want {
			t.Fatalf("open calls %s, want the newest: %s", openIDs(r), want)
		}
		// The oldest open call is the index's score.
		if sc := rdb.ZScore(ctx, s.keys.openCalls("A", p), "flood").Val(); int64(sc) != t0.Add(992*time.Second).UnixMilli() {
			t.Fatalf("open-calls index %v", sc)
		}
		// A forgotten call's late end or retried open changes nothing.
		if n := apply("flood", callAt("5", 5, CallOpen), callAt("6", 6, CallEnded)); n != 0 {
			t.Fatalf("%d facts about forgotten calls applied", n)
		}
		// Ending them all leaves the user idle, with a bounded memory.
		var fields []FieldWrite
		for i := 0; i < 1000; i++ {
			fields = append(fields, callAt(fmt.Sprint(i), 2000+i, CallEnded))
		}
		apply("flood", fields...)
		r = record("flood")
		if len(r.Calls()) != MaxEndedCalls || openIDs(r) != "" || r.Fields[FieldCallState] != "idle" || r.Fields[FieldStatus] != "unknown" {
			t.Fatalf("%d calls kept (%s open), call_state %q, status %q", len(r.Calls()), openIDs(r), r.Fields[FieldCallState], r.Fields[FieldStatus])
		}
		if rdb.ZScore(ctx, s.keys.openCalls("A", p), "flood").Err() != redis.Nil {
			t.Fatal("an idle user is still in the open-calls index")
		}
	})
}

// TestEndedCallsAreRememberedForAWhile: an ended call is remembered for
// CallMemory after the user's newest call event, so Zoom's retry of its
// answer (85 minutes at most) cannot reopen it; a call forgotten after
// that window cannot be reopened either (the floor).
func TestEndedCallsAreRememberedForAWhile(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		apply := func(fields ...FieldWrite) int {
			t.Helper()
			n, err := s.Apply(ctx, Write{"A", "u1", fields})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		state := func() (string, string) {
			t.Helper()
			r, err := s.User(ctx, "A", "u1")
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, c := range r.Calls() {
				all = append(all, c.ID)
			}
			return r.Fields[FieldCallState], strings.Join(all, ",")
		}
		const minute = 60 // seconds
		apply(callAt("1", 0, CallOpen), callAt("1", 5*minute, CallEnded))
		apply(callAt("2", 90*minute, CallOpen))
		if n := apply(callAt("1", 0, CallOpen)); n != 0 { // Zoom's last retry, 85 minutes on
			t.Fatal("a retried answer reopened an ended call")
		}
		if cs, all := state(); cs != "on_call" || all != "1,2" {
			t.Fatalf("call_state %q, calls %s", cs, all)
		}
		apply(callAt("2", 200*minute, CallEnded)) // over two hours after call 1 ended: it is forgotten
		if cs, all := state(); cs != "idle" || all != "2" {
			t.Fatalf("call_state %q, calls %s", cs, all)
		}
		if n := apply(callAt("1", 0, CallOpen)); n != 0 {
			t.Fatal("a forgotten call's answer reopened it")
		}
		// A call the user answers now is news whatever was forgotten.
		if n := apply(callAt("3", 201*minute, CallOpen)); n != 1 {
			t.Fatal("a new call was not recorded")
		}
		if cs, _ := state(); cs != "on_call" {
			t.Fatalf("call_state %q", cs)
		}
	})
}

// TestCallsOfARecordFromBeforeCallsWereTracked: a record that says
// on_call with its call_id (the per-user form) is one open call: its end
// closes it, another call's end does not, and the sweeper sees it.
func TestCallsOfARecordFromBeforeCallsWereTracked(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		began := WebhookVersion(t0.UnixMilli())
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{fw(FieldUserStatus, began, "active"), fw(FieldPresence, began, "available")}}); err != nil {
			t.Fatal(err)
		}
		// What the apply script wrote before calls were tracked.
		rec, p := s.keys.user("A", "u1"), s.keys.partition("u1")
		rdb.HSet(ctx, rec, FieldCallState, "on_call", "v:"+FieldCallState, int64(began), FieldCallID, "111", "v:"+FieldCallID, int64(began),
			FieldStatus, "on_call")
		rdb.ZAdd(ctx, s.keys.openCalls("A", p), redis.Z{Score: float64(t0.UnixMilli()), Member: "u1"})
		long, err := s.LongCalls(ctx, "A", p, t0.Add(time.Hour), 10)
		if err != nil || len(long) != 1 || long[0].CallID != "111" || !long[0].Began.Equal(t0) {
			t.Fatalf("long calls %+v %v", long, err)
		}
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{callAt("222", 10, CallEnded)}}); err != nil {
			t.Fatal(err)
		}
		r, _ := s.User(ctx, "A", "u1")
		if r.Fields[FieldStatus] != "on_call" || openIDs(r) != "111" || r.Fields[FieldCallID] != "" {
			t.Fatalf("another call ended: status %q, open %q, fields %v", r.Fields[FieldStatus], openIDs(r), r.Fields)
		}
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{callAt("111", 20, CallEnded)}}); err != nil {
			t.Fatal(err)
		}
		r, _ = s.User(ctx, "A", "u1")
		if r.Fields[FieldStatus] != "available" || openIDs(r) != "" {
			t.Fatalf("its call ended: status %q, open %q", r.Fields[FieldStatus], openIDs(r))
		}
	})
}

// TestCallFactsMergeLikeTheScript: merging a batch keeps each call's
// newest fact, and of an open and an end of the same version the end,
// as the script does when they come one by one.
func TestCallFactsMergeLikeTheScript(t *testing.T) {
	v := WebhookVersion(t0.UnixMilli())
	cases := []struct {
		name string
		a, b []FieldWrite
		want string
	}{
		{"two calls stay two", []FieldWrite{fw(CallField("1"), v, CallOpen)}, []FieldWrite{fw(CallField("2"), v+2, CallEnded)},
			"call:1=open call:2=ended"},
		{"newer wins", []FieldWrite{fw(CallField("1"), v+2, CallEnded)}, []FieldWrite{fw(CallField("1"), v, CallOpen)}, "call:1=ended"},
		{"an end beats an open of the same version", []FieldWrite{fw(CallField("1"), v, CallOpen)}, []FieldWrite{fw(CallField("1"), v, CallEnded)},
			"call:1=ended"},
		{"an open does not beat an end of the same version", []FieldWrite{fw(CallField("1"), v, CallEnded)}, []FieldWrite{fw(CallField("1"), v, CallOpen)},
			"call:1=ended"},
		{"other fields keep the first of a version", []FieldWrite{fw(FieldPresence, v, "away")}, []FieldWrite{fw(FieldPresence, v, "available")},
			"presence=away"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range mergeFields(append([]FieldWrite(nil), tc.a...), tc.b) {
				got = append(got, f.Name+"="+f.Value)
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("merged %v, want %s", got, tc.want)
			}
		})
	}
}

// TestCallFactsAreChecked: call_state and calls are the script's; a call
// fact needs a plain id and open or ended; Zoom's ids always make one.
func TestCallFactsAreChecked(t *testing.T) {
	v := WebhookVersion(t0.UnixMilli())
	for _, tc := range []struct {
		f  FieldWrite
		ok bool
	}{
		{fw(CallField("6998252113337041462"), v, CallOpen), true},
		{fw(CallField("-"), v, CallEnded), true},
		{fw(FieldCallState, v, "on_call"), false},
		{fw(FieldCalls, v, ""), false},
		{fw(CallField(""), v, CallOpen), false},
		{fw(CallField("1 o3:2"), v, CallOpen), false},
		{fw(CallField(strings.Repeat("9", 65)), v, CallOpen), false},
		{fw(CallField("1"), v, "idle"), false},
	} {
		err := checkWrite(Write{"A", "u1", []FieldWrite{tc.f}})
		if (err == nil) != tc.ok || (err != nil && !errs.Is(errs.Invalid, err)) {
			t.Errorf("%s=%q: %v", tc.f.Name, tc.f.Value, err)
		}
	}
	for _, id := range []string{"", "6998252113337041462", "a b", "x:y", strings.Repeat("1", 100), "o1:2 e3:4"} {
		if got := callID(id); !validCallID(got) {
			t.Errorf("call id %q kept as %q", id, got)
		}
	}
	if callID("a b") == callID("a  b") || callID("") != "-" || callID(" 42 ") != "42" {
		t.Error("call ids are not kept apart")
	}
}

// TestRecordCallsReadsWhatTheScriptWrites: the Go reading of the calls
// field agrees with the script's writing of it.
func TestRecordCallsReadsWhatTheScriptWrites(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient, _ func(time.Duration)) {
		ctx := context.Background()
		s := NewStore(rdb, 4, 2*time.Hour)
		if _, err := s.Apply(ctx, Write{"A", "u1", []FieldWrite{callAt("3", 30, CallOpen), callAt("1", 10, CallEnded), callAt("2", 20, CallOpen)}}); err != nil {
			t.Fatal(err)
		}
		r, err := s.User(ctx, "A", "u1")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range r.Calls() {
			got = append(got, fmt.Sprintf("%s/%v/%d", c.ID, c.Open, c.Version.Time().Sub(t0)/time.Second))
		}
		if strings.Join(got, " ") != "1/false/10 2/true/20 3/true/30" || r.Versions[FieldCallState] != WebhookVersion(t0.Add(30*time.Second).UnixMilli()) {
			t.Fatalf("calls %v (field %q), call_state version %d", got, r.Fields[FieldCalls], r.Versions[FieldCallState])
		}
	})
}
