package app

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/testserver"
	"github.com/zoomsync/zoomsync/presence"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/zoomapi/webhook"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// BenchmarkPipeline: the whole pipeline under a realistic load, from
// webhook to target. 100,000 users in one account, pulled by `zoomsync
// resync` and linked by `zoomsync map` to 100,000 slapd entries, each
// with a presence and its history; redis-server with AOF everysec; the
// real `serve` binary with one signed `webhook` presence target on
// loopback that verifies every push (its own process); signed webhooks
// where every event is a real change (pipeline_mix_test.go: 85 %
// presence, 8 % phone calls, 4 % contact-center agent status, 3 % user
// lifecycle and profile), sent over 64 keep-alive connections
// (pipeline_sender_test.go).
//
// Each run measures, each phase ZOOMSYNC_BENCH_PIPELINE_SECONDS long
// (default 20):
//   - acknowledged events/s at saturation (closed loop), against the
//     same load on a bare net/http + HMAC handler and on @zoom/rivet's
//     HttpReceiver (x-bare, x-rivet); the backlog 1 s after the load;
//     CPU µs per event of serve, redis-server, the target and the whole
//     machine, and Redis commands per event (INFO commandstats), from the
//     first webhook until everything is applied and pushed;
//   - acknowledgement p50/p99 and webhook→target p50/p99 at a fixed
//     2,000 and 5,000 events/s (open loop, latency from when each event
//     was due), and what is left unapplied or unpushed 1 s after the load
//     (nothing should be deferred); the bare handler at 5,000/s too;
//   - on a 3-second sample at 1,000/s under MONITOR, which commands
//     clients sent and which scripts ran;
//   - in the set-up, Redis memory per user (record, indices, links,
//     history stream, the target's per-user state) and per history entry
//     (2,000 users given 7 days × 20 changes).
//
// It checks that every push verified, and that the target ends with
// every user's status as the load left it (lost).
//
// Set ZOOMSYNC_BENCH_PIPELINE=1 (task bench runs it three times, about
// seven minutes each). ZOOMSYNC_BENCH_PIPELINE_LOG=file appends the whole
// log to file (go test keeps ten lines of it);
// ZOOMSYNC_BENCH_PIPELINE_PROFILE=file runs serve as a helper process
// writing a CPU profile of the saturation phase.
func BenchmarkPipeline(b *testing.B) {
	if os.Getenv("ZOOMSYNC_BENCH_PIPELINE") == "" {
		b.Skip("set ZOOMSYNC_BENCH_PIPELINE=1 (task bench): 100,000 users, about seven minutes a run")
	}
	users := envInt(b, "ZOOMSYNC_BENCH_PIPELINE_USERS", 100_000)
	length := time.Duration(envInt(b, "ZOOMSYNC_BENCH_PIPELINE_SECONDS", 20)) * time.Second
	const conns = 64
	p := setUpPipeline(b, users, conns)

	var results []pipelineResult
	warm := true
	for b.Loop() {
		results = append(results, p.measure(b, length, warm))
		warm = false
	}
	p.report(b, results)
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// pipelineBench is everything the measurement uses.
type pipelineBench struct {
	redis        *testserver.Redis
	rdb          redis.UniversalClient
	inbox        *zsync.Inbox
	outbox       *zsync.Outbox
	mix, refMix  *pipelineMix
	serve        endpointProc
	bare, target *peer
	rivet        *peer
	rivetSkipped string
	profile      string
	memory       map[string]float64 // set-up measurements, reported as they are
	lastPush     map[string]arrival // user → the newest push the target accepted
	undirected   int                // pushes without directory data
	details      *os.File           // ZOOMSYNC_BENCH_PIPELINE_LOG: the whole log (go test keeps 10 lines of a benchmark's)
	polls        int                // backlog readings so far
	pollCmds     map[string]float64 // the commands one backlog reading sends (left out of the counts)
}

// endpointProc is serve: where it takes webhooks, and its process.
type endpointProc struct {
	ep  webhookEndpoint
	pid int
	sig func(os.Signal)
}

// setUpPipeline starts every component, loads the users, links them,
// gives them a presence and its history, measures Redis memory on the
// way, and starts serve, the target and the references.
func setUpPipeline(b *testing.B, users, conns int) *pipelineBench {
	b.Helper()
	began := time.Now()
	p := &pipelineBench{memory: map[string]float64{}, lastPush: map[string]arrival{}}
	if path := os.Getenv("ZOOMSYNC_BENCH_PIPELINE_LOG"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		p.details = f
		p.logf(b, "BenchmarkPipeline run of %s, %d users", time.Now().UTC().Format(time.RFC3339), users)
	}
	p.redis = testserver.StartRedis(b, testserver.RedisOptions{AOF: true})
	p.rdb = p.redis.Client()
	fake, acct := startFakeB(b, users)
	slapd := testserver.StartSlapd(b, testserver.SlapdOptions{Users: users})
	bin := buildBinary(b)
	p.logf(b, "set-up: redis-server, fake Zoom and slapd with %d people, binary built: %v", users, time.Since(began).Round(time.Second))

	// Pull and link with the real binary, no target yet.
	env := os.Environ()
	for k, v := range serveEnv(fake, p.redis.URL(), "127.0.0.1:0") {
		env = append(env, k+"="+v)
	}
	env = append(env, "ZOOMSYNC_ZOOM_RATE_LIMITS=light=0,medium=0,heavy=0,phone.light=0,phone.medium=0,phone.heavy=0,cc.light=0,cc.medium=0,cc.heavy=0")
	empty := usedMemory(b, p.rdb)
	secs, _, _ := runMeasured(b, bin, env, fmt.Sprintf("seen %d, created %d", users, users), "resync")
	env = append(env, "LDAP_URL="+slapd.URL, "LDAP_BIND_DN="+testserver.ServiceBindDN, "LDAP_BIND_PASSWORD="+testserver.ServicePassword,
		"LDAP_BASE_DN="+testserver.UsersDN, "LDAP_PAGE_SIZE=1000", "ZOOMSYNC_MATCH_RULES=email=mail")
	mapSecs, _, _ := runMeasured(b, bin, env, fmt.Sprintf("directory: %d entries; links: matched", users), "map")
	linked := usedMemory(b, p.rdb)
	p.logf(b, "set-up: resync %.1f s, map %.1f s", secs, mapSecs)

	// A presence (and so a history stream) for every active user, then
	// 7 days × 20 changes for a sample, as the webhooks would write them.
	store := zsync.NewStore(p.rdb, zsync.DefaultPartitions, 7*24*time.Hour)
	fakeUsers := acct.Users()
	var active []zoomfake.User
	for _, u := range fakeUsers {
		if u.Status == "active" {
			active = append(active, u)
		}
	}
	week := time.Now().Add(-7 * 24 * time.Hour).UnixMilli()
	const sample, perDay = 2000, 20
	applyPresence(b, store, active, func(i int, u zoomfake.User) (string, int64) {
		st := u.Presence
		if presence.ParseZoomStatus(st) == presence.OnCall {
			st = "Available" // calls come from the phone events
		}
		return st, week + int64(i%1000)
	})
	withHistory := usedMemory(b, p.rdb)
	changes := 7*perDay - 1
	for k := range changes {
		applyPresence(b, store, active[:min(sample, len(active))], func(i int, u zoomfake.User) (string, int64) {
			return []string{"Away", "Available"}[k%2], week + int64(k+1)*(7*24*3600*1000/int64(changes+1)) + int64(i)
		})
	}
	week7 := usedMemory(b, p.rdb)
	perEntry := (week7 - withHistory) / float64(min(sample, len(active))*changes)
	p.memory["user"] = (linked-empty)/float64(users) + (withHistory-linked)/float64(len(active)) - perEntry
	p.memory["entry"] = perEntry
	p.logf(b, "set-up: Redis memory: %.0f B per pulled and linked user (%d), %.0f B more per active user's first presence change (%d: history stream, status, freshness), %.1f B per further history entry (%d users × %d); records average %.0f B (MEMORY USAGE of a sample)",
		(linked-empty)/float64(users), users, (withHistory-linked)/float64(len(active)), len(active), perEntry, min(sample, len(active)), changes,
		averageUsage(b, p.rdb, "zs:*:u:*", 500))

	// What zoomsync now holds of each active user: the generator starts
	// from it.
	states := readStates(b, p.rdb, store, active)
	p.mix = newPipelineMix(mixUsersOf(fakeUsers, states), conns, whSecret, uint64(time.Now().UnixNano()))
	p.refMix = newPipelineMix(mixUsersOf(fakeUsers, states), conns, whSecret, 7)

	// The target, serve with it, and the references.
	p.target = startPeer(b, "target", nil)
	targets := filepath.Join(b.TempDir(), "targets.json")
	statusMap := `{"available":"A","away":"W","dnd":"D","in_meeting":"M","presenting":"P","on_call":"C","in_calendar_event":"E","out_of_office":"O","busy":"B","offline":"F","mobile_only":"X"}`
	if err := os.WriteFile(targets, []byte(fmt.Sprintf(`[{"name":"bench","type":"webhook","url":"http://%s/","secret":%q,"status_map":%s,"dead_after":"10m"}]`,
		p.target.addr, pipelineTargetSecret, statusMap)), 0o600); err != nil {
		b.Fatal(err)
	}
	serveCfg := serveEnv(fake, p.redis.URL(), "127.0.0.1:0")
	serveCfg["ZOOMSYNC_TARGETS_FILE"] = targets
	serveCfg["ZOOMSYNC_PRESENCE_READS_PER_SECOND"] = "0" // only the webhooks change presence
	started := time.Now()
	if p.profile = os.Getenv("ZOOMSYNC_BENCH_PIPELINE_PROFILE"); p.profile != "" {
		serveCfg["ZOOMSYNC_BENCH_PIPELINE_PROFILE"] = p.profile
		sp := startPeer(b, "serve", serveCfg)
		p.serve = endpointProc{ep: webhookEndpoint{sp.addr, "/webhooks/zoom/" + acctID}, pid: sp.cmd.Process.Pid,
			sig: func(s os.Signal) { _ = sp.cmd.Process.Signal(s) }}
	} else {
		p.serve = startPipelineServe(b, bin, serveCfg)
	}
	waitReady(b, "http://"+p.serve.ep.addr)
	p.logf(b, "set-up: serve ready (the resync's complete pull counts as its first) in %v", time.Since(started).Round(time.Millisecond))
	p.inbox = zsync.NewInbox(p.rdb, zsync.InboxOptions{})
	p.outbox = store.Outbox()
	p.drain(b)
	p.calibratePolls(b)
	p.logf(b, "set-up: one backlog reading sends %v (left out of the command counts)", p.pollCmds)
	p.bare = startPeer(b, "bare", nil)
	if p.rivet, p.rivetSkipped = startRivet(b); p.rivet == nil {
		p.logf(b, "@zoom/rivet reference skipped: %s", p.rivetSkipped)
	}
	p.logf(b, "set-up took %v", time.Since(began).Round(time.Second))
	return p
}

// applyPresence writes a presence webhook's facts for each user (status
// and event_ts from at), as the consumer would, in batches.
func applyPresence(tb testing.TB, store *zsync.Store, users []zoomfake.User, at func(int, zoomfake.User) (string, int64)) {
	tb.Helper()
	ctx := context.Background()
	ws := make([]zsync.Write, 0, 1000)
	for i, u := range users {
		st, ts := at(i, u)
		body := fmt.Sprintf(`{"event":"user.presence_status_updated","event_ts":%d,"payload":{"account_id":%q,"object":{"id":%q,"email":%q,"date_time":%q,"presence_status":%q}}}`,
			ts, acctID, u.ID, u.Email, time.UnixMilli(ts).UTC().Format(time.RFC3339), st)
		ev, err := webhook.Decode([]byte(body))
		if err != nil {
			tb.Fatal(err)
		}
		w, ok := zsync.EventWrite(acctID, ev)
		if !ok {
			tb.Fatalf("no write for %s", body)
		}
		if ws = append(ws, w); len(ws) == cap(ws) || i == len(users)-1 {
			if _, err := store.ApplyBatch(ctx, ws); err != nil {
				tb.Fatal(err)
			}
			ws = ws[:0]
		}
	}
}

// readStates reads what zoomsync holds of each user: Zoom's presence
// spelling, the agent status id and the department.
func readStates(tb testing.TB, rdb redis.UniversalClient, store *zsync.Store, users []zoomfake.User) map[string][3]string {
	tb.Helper()
	ctx := context.Background()
	out := map[string][3]string{}
	for chunk := range slices.Chunk(users, 1000) {
		refs := make([]zsync.UserRef, len(chunk))
		for i, u := range chunk {
			refs[i] = zsync.UserRef{Account: acctID, Key: u.ID}
		}
		recs, err := store.Records(ctx, refs)
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range recs {
			if r == nil {
				continue
			}
			out[r.Key] = [3]string{r.Fields[zsync.FieldZoomStatus], r.Fields[zsync.FieldAgentStatusID], r.Fields[zsync.FieldDept]}
		}
	}
	return out
}

// averageUsage is the mean MEMORY USAGE of up to n keys matching pattern.
func averageUsage(tb testing.TB, rdb redis.UniversalClient, pattern string, n int) float64 {
	tb.Helper()
	ctx := context.Background()
	keys, _, err := rdb.Scan(ctx, 0, pattern, int64(n*50)).Result()
	if err != nil || len(keys) == 0 {
		return 0
	}
	keys = keys[:min(n, len(keys))]
	total := 0.0
	for _, k := range keys {
		v, _ := rdb.MemoryUsage(ctx, k, 0).Result()
		total += float64(v)
	}
	return total / float64(len(keys))
}

// perEntryUsage is the MEMORY USAGE of every hash matching pattern over
// their entries (HLEN), and how many entries.
func perEntryUsage(tb testing.TB, rdb redis.UniversalClient, pattern string) (float64, int64) {
	tb.Helper()
	ctx := context.Background()
	var bytes, entries int64
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		v, _ := rdb.MemoryUsage(ctx, k, 0).Result()
		n, _ := rdb.HLen(ctx, k).Result()
		bytes, entries = bytes+v, entries+n
	}
	if entries == 0 {
		return 0, 0
	}
	return float64(bytes) / float64(entries), entries
}

// startPipelineServe runs the real binary's serve with env and waits
// until it listens.
func startPipelineServe(tb testing.TB, bin string, env map[string]string) endpointProc {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env["ZOOMSYNC_HTTP_ADDR"], env["ZOOMSYNC_ADMIN_ADDR"] = addr, addr
	cmd := exec.Command(bin, "serve")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if s := logs.String(); s != "" {
			tb.Logf("serve's log (warnings and errors):\n%s", s)
		}
	})
	return endpointProc{ep: webhookEndpoint{addr, "/webhooks/zoom/" + acctID}, pid: cmd.Process.Pid,
		sig: func(s os.Signal) { _ = cmd.Process.Signal(s) }}
}

// waitReady waits (up to 5 minutes: the first full pull of every user
// comes first) for /readyz to answer 200.
func waitReady(tb testing.TB, base string) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for status(base+"/readyz") != 200 {
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready within 5 minutes", base)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// backlog is what serve has not yet applied (inbox lag and pending) and
// not yet pushed to the target.
func (p *pipelineBench) backlog(tb testing.TB) (unapplied, unpushed int64) {
	tb.Helper()
	ctx := context.Background()
	p.polls++
	stats, err := p.inbox.Stats(ctx, acctID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range stats {
		unapplied += s.Lag + s.Pending
	}
	ts, err := p.outbox.Stats(ctx, acctID, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	return unapplied, ts.Pending
}

// drain waits until everything acknowledged is applied and pushed, and
// returns when that was.
func (p *pipelineBench) drain(tb testing.TB) time.Time {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		a, u := p.backlog(tb)
		if a == 0 && u == 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after 5 minutes %d events are still unapplied and %d users unpushed", a, u)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// calibratePolls learns which commands one backlog reading sends, so
// that the counts of what serve asked of Redis can leave them out.
func (p *pipelineBench) calibratePolls(tb testing.TB) {
	const n = 200
	before := commandStats(tb, p.rdb)
	for range n {
		p.backlog(tb)
	}
	p.pollCmds = map[string]float64{}
	for _, s := range commandsSince(before, commandStats(tb, p.rdb)) {
		if per := s.calls / n; per >= 0.5 { // serve's own idle commands meanwhile are far fewer
			p.pollCmds[s.name] = math.Round(per)
		}
	}
}

// commandsSince is what ran since before, less the benchmark's own
// backlog readings (polls is p.polls at before).
func (p *pipelineBench) commandsSince(tb testing.TB, before map[string]cmdStat, polls int) []namedStat {
	ran := commandsSince(before, commandStats(tb, p.rdb))
	out := ran[:0]
	for _, s := range ran {
		s.calls -= p.pollCmds[s.name] * float64(p.polls-polls)
		if s.calls > 0 {
			out = append(out, s)
		}
	}
	return out
}

// settleAfter waits until 1 s after the load ended and reads the backlog
// then: work still queued is work deferred, not in flight.
func (p *pipelineBench) settleAfter(tb testing.TB, run loadRun) (int64, int64) {
	time.Sleep(time.Until(run.ended.Add(time.Second)))
	return p.backlog(tb)
}

// logf logs to the benchmark and to the details file.
func (p *pipelineBench) logf(b *testing.B, format string, args ...any) {
	b.Helper()
	b.Logf(format, args...)
	if p.details != nil {
		fmt.Fprintf(p.details, format+"\n", args...)
	}
}

// pipelineResult is one run's figures, by metric name.
type pipelineResult map[string]float64

// e2e matches the target's pushes to the events that caused them
// (user and since = event_ts): the delay from each event's send (or due)
// time to its push's arrival. Events whose change was coalesced into a
// later one of the same user's before it was pushed have no push of their
// own; missing counts the others.
func (p *pipelineBench) e2e(tb testing.TB, run loadRun) (lat []time.Duration, coalesced, missing int) {
	tb.Helper()
	type key struct {
		user  string
		since int64
	}
	at := map[key]int64{}
	newest := map[string]int64{}
	// A push still on its way when the outbox already reads empty arrives
	// a moment later: look again for a few seconds before calling any
	// missing.
	for deadline := time.Now().Add(5 * time.Second); ; {
		arrivals, bad := takeArrivals(tb, p.target.addr)
		if bad > 0 {
			tb.Fatalf("the target refused %d pushes (signature or body)", bad)
		}
		for _, a := range arrivals {
			if _, dup := at[key{a.user, a.since}]; !dup {
				at[key{a.user, a.since}] = a.at
			}
			newest[a.user] = max(newest[a.user], a.since)
			if last, ok := p.lastPush[a.user]; !ok || a.seq > last.seq {
				p.lastPush[a.user] = a
			}
			if !a.directory {
				p.undirected++
			}
		}
		lat, coalesced, missing = lat[:0], 0, 0
		for _, s := range run.sent {
			if !s.push {
				continue
			}
			id := p.mix.users[s.user].id
			if t, ok := at[key{id, s.ts}]; ok {
				lat = append(lat, time.Duration(t-s.at))
			} else if newest[id] > s.ts {
				coalesced++
			} else {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(lat)
	return lat, coalesced, missing
}

func quantile(lat []time.Duration, q float64) float64 {
	if len(lat) == 0 {
		return math.NaN()
	}
	return ms(lat[min(len(lat)-1, int(q*float64(len(lat))))])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// measure is one run of every phase.
func (p *pipelineBench) measure(b *testing.B, length time.Duration, warm bool) pipelineResult {
	res := pipelineResult{}
	zs := p.serve.ep
	bareEp := webhookEndpoint{p.bare.addr, "/"}
	var rivetEp webhookEndpoint
	if p.rivet != nil {
		rivetEp = webhookEndpoint{p.rivet.addr, "/zoom/events"}
	}
	if warm { // JIT, connection pools, Redis's scripts
		sendLoad(b, bareEp, p.refMix, acctID, 3*time.Second, 0)
		if p.rivet != nil {
			sendLoad(b, rivetEp, p.refMix, acctID, 3*time.Second, 0)
		}
		w := sendLoad(b, zs, p.mix, acctID, 3*time.Second, 0)
		p.drain(b)
		p.e2e(b, w)
	}

	// Saturation: the references, then zoomsync.
	bare := sendLoad(b, bareEp, p.refMix, acctID, length, 0)
	res["ref-bare-events/s"] = bare.perSecond()
	if p.rivet != nil {
		rivet := sendLoad(b, rivetEp, p.refMix, acctID, length, 0)
		if rivet.refused > 0 {
			b.Fatalf("rivet refused %d of %d webhooks (its verifier re-stringifies the body: is it compact?)", rivet.refused, rivet.acked+rivet.refused)
		}
		res["ref-rivet-events/s"] = rivet.perSecond()
	}
	cpu := p.cpuMeter()
	cmds, polls := commandStats(b, p.rdb), p.polls
	if p.profile != "" {
		p.serve.sig(syscall.SIGUSR1)
	}
	sat := p.zoomsyncLoad(b, length, 0)
	unapplied, unpushed := p.settleAfter(b, sat)
	drained := p.drain(b)
	if p.profile != "" {
		p.serve.sig(syscall.SIGUSR2)
		p.logf(b, "CPU profile of serve during the saturation phase: %s (go tool pprof -top %s)", p.profile, p.profile)
	}
	used := cpu.used()
	ran := p.commandsSince(b, cmds, polls)
	lat, coalesced, missing := p.e2e(b, sat)
	res["events/s"] = sat.perSecond()
	res["x-bare"] = sat.perSecond() / bare.perSecond()
	if r, ok := res["ref-rivet-events/s"]; ok {
		res["x-rivet"] = sat.perSecond() / r
	}
	res["unapplied-at-end@max"], res["unpushed-at-end@max"] = float64(unapplied), float64(unpushed)
	ev := float64(sat.acked)
	for _, name := range []string{"zoomsync", "redis", "target", "loadgen"} {
		res[name+"-cpu-us/ev"] = used[name] * 1e6 / ev
	}
	// The machine is shared: how many cores others took meanwhile.
	res["others-cores@max"] = (used["machine"] - used["zoomsync"] - used["redis"] - used["target"] - used["loadgen"]) /
		drained.Sub(cpu.at).Seconds()
	res["redis-cmds/ev"] = totalCalls(ran) / ev
	p.logf(b, "saturation: %d acknowledged in %v (%.0f/s; bare %.0f/s, rivet %.0f/s), all applied and pushed %v after the load; %d unapplied and %d unpushed 1 s after it; webhook→target p50 %.1f ms p99 %.1f ms (%d coalesced, %d missing); CPU s: %v",
		sat.acked, sat.elapsed.Round(time.Millisecond), sat.perSecond(), bare.perSecond(), res["ref-rivet-events/s"],
		drained.Sub(sat.ended).Round(time.Millisecond), unapplied, unpushed, quantile(lat, 0.5), quantile(lat, 0.99), coalesced, missing, used)
	p.logf(b, "Redis commands per event at saturation (INFO commandstats: client and script commands alike):\n%s", describeCommands(ran, sat.acked))

	// Fixed rates.
	for _, rate := range []int{2000, 5000} {
		suffix := fmt.Sprintf("@%dk/s", rate/1000)
		cpu, cmds, polls := p.cpuMeter(), commandStats(b, p.rdb), p.polls
		run := p.zoomsyncLoad(b, length, float64(rate))
		unapplied, unpushed := p.settleAfter(b, run)
		p.drain(b)
		used, ran := cpu.used(), p.commandsSince(b, cmds, polls)
		lat, coalesced, missing := p.e2e(b, run)
		res["ack-p50-ms"+suffix], res["ack-p99-ms"+suffix] = ms(run.quantile(0.5)), ms(run.quantile(0.99))
		res["e2e-p50-ms"+suffix], res["e2e-p99-ms"+suffix] = quantile(lat, 0.5), quantile(lat, 0.99)
		if rate == 5000 {
			res["ack-max-ms"+suffix] = ms(run.lat[len(run.lat)-1])
			res["e2e-max-ms"+suffix] = quantile(lat, 1)
			res["unapplied-at-end"], res["unpushed-at-end"] = float64(unapplied), float64(unpushed)
			res["redis-cpu-us/ev"+suffix] = used["redis"] * 1e6 / float64(run.acked)
			res["zoomsync-cpu-us/ev"+suffix] = used["zoomsync"] * 1e6 / float64(run.acked)
			res["redis-cmds/ev"+suffix] = totalCalls(ran) / float64(run.acked)
		}
		p.logf(b, "%d/s: %d acknowledged in %v, ack p50 %.2f ms p99 %.2f ms max %.1f ms; webhook→target p50 %.1f ms p99 %.1f ms max %.1f ms (%d pushed, %d coalesced, %d missing); %d unapplied and %d unpushed 1 s after the load; CPU s: %v",
			rate, run.acked, run.elapsed.Round(time.Millisecond), ms(run.quantile(0.5)), ms(run.quantile(0.99)), ms(run.lat[len(run.lat)-1]),
			quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1), len(lat), coalesced, missing, unapplied, unpushed, used)
	}
	ref5k := sendLoad(b, bareEp, p.refMix, acctID, length, 5000)
	res["ref-bare-ack-p99-ms@5k/s"] = ms(ref5k.quantile(0.99))

	// Which commands clients send and which the scripts run, per event:
	// a short sample, MONITOR slows Redis down.
	stop := monitorRedis(b, p.redis.Addr)
	mon := p.zoomsyncLoad(b, 3*time.Second, 1000)
	time.Sleep(2 * time.Second) // the sample's applies and pushes (milliseconds at this rate)
	seen := stop()
	p.drain(b)
	p.e2e(b, mon)
	res["redis-client-cmds/ev"] = float64(seen.clientTotal()) / float64(mon.acked)
	p.logf(b, "Redis commands per event by who sent them (MONITOR, %d events at 1,000/s, background work included):\n%s", mon.acked, describeMonitor(seen, mon.acked))

	// The target's per-user state (latest change, delivered seq) and the
	// target ending right for every user.
	out, outN := perEntryUsage(b, p.rdb, "zs:*:out")
	sent, sentN := perEntryUsage(b, p.rdb, "zs:*:sent:bench")
	res["redis-bytes/user"] = p.memory["user"] + out + sent
	res["redis-bytes/history-entry"] = p.memory["entry"]
	p.logf(b, "Redis memory per user: %.0f B of record, indices, links and history stream; the target's state %.0f B (outbox %.0f B × %d, delivered seqs %.0f B × %d); %.1f B per history entry",
		p.memory["user"], out+sent, out, outN, sent, sentN, p.memory["entry"])
	lost := 0
	// What the target believes of each user (its last push, or nothing
	// since the status the user had before the load) must be the status.
	for _, u := range p.mix.users {
		last, pushed := p.lastPush[u.id]
		believed := string(u.initial)
		if pushed {
			believed = last.status
		}
		if believed == string(u.effective()) {
			continue
		}
		lost++
		if lost <= 5 {
			rec, _ := p.rdb.HGetAll(context.Background(), userKeyOf(b, p.rdb, u.id)).Result()
			p.logf(b, "lost: user %s should be %s (active %v, presence %q, call %q, before the load %s); the target's last push %+v; zoomsync holds status %q seq %s since %s, user_status %q, presence %q, call_state %q",
				u.id, u.effective(), u.active, u.presence, u.call, u.initial, last, rec["status"], rec["status_seq"], rec["status_since"], rec["user_status"],
				rec["presence"], rec["call_state"])
		}
	}
	res["lost"] = float64(lost)
	if p.undirected > 0 {
		p.logf(b, "%d pushes carried no directory data (every user is linked)", p.undirected)
	}
	return res
}

// userKeyOf finds the Redis key of a user's record.
func userKeyOf(tb testing.TB, rdb redis.UniversalClient, id string) string {
	keys, err := rdb.Keys(context.Background(), "zs:*:u:"+id).Result()
	if err != nil || len(keys) != 1 {
		tb.Logf("record of %s: %v %v", id, keys, err)
		return ""
	}
	return keys[0]
}

// zoomsyncLoad sends the mix to serve and fails on any refusal: the
// generator's idea of each user's state is then no longer zoomsync's.
func (p *pipelineBench) zoomsyncLoad(b *testing.B, length time.Duration, rate float64) loadRun {
	run := sendLoad(b, p.serve.ep, p.mix, acctID, length, rate)
	if run.refused > 0 {
		b.Fatalf("serve refused %d of %d webhooks", run.refused, run.acked+run.refused)
	}
	return run
}

func (p *pipelineBench) cpuMeter() *cpuMeter {
	return newCPUMeter(map[string]func() float64{
		"zoomsync": func() float64 { return processCPUSeconds(p.serve.pid) },
		"redis":    func() float64 { return redisCPUSeconds(p.rdb) },
		"target":   p.target.cpuSeconds,
		"loadgen":  selfCPUSeconds,
		"machine":  machineBusySeconds,
	})
}

// report gives the medians of the runs, and names what was not measured.
func (p *pipelineBench) report(b *testing.B, results []pipelineResult) {
	b.StopTimer()
	names := map[string]bool{}
	for _, r := range results {
		for k := range r {
			names[k] = true
		}
	}
	sorted := slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range sorted {
		var vs []float64
		for _, r := range results {
			if v, ok := r[name]; ok && !math.IsNaN(v) {
				vs = append(vs, v)
			}
		}
		if len(vs) > 0 {
			b.ReportMetric(median(vs), name)
		}
	}
	b.ReportMetric(0, "ns/op")
	if p.rivet != nil {
		if out := p.rivet.stop(); !strings.Contains(out, "handled ") {
			p.logf(b, "rivet printed %q", out)
		} else {
			p.logf(b, "rivet: %s", strings.TrimSpace(out))
		}
	}
}
