package app

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/testserver"
	zsync "github.com/zoomsync/zoomsync/sync"
	"github.com/zoomsync/zoomsync/sync/runs"
	"github.com/zoomsync/zoomsync/zoomapi/zoomfake"
)

// The reliability scenarios (task reliability, and in a short form in
// the default test run) each inject one fault under load and report, as a
// "reliability:" row: webhooks acknowledged, applied, lost (must be 0),
// duplicates pushed to a target and the time to recover.

// reliabilityLong reports whether the long form runs: faults lasting
// minutes rather than seconds (ZOOMSYNC_RELIABILITY_LONG=1, set by task
// reliability).
func reliabilityLong() bool { return os.Getenv("ZOOMSYNC_RELIABILITY_LONG") == "1" }

// webhookLoad sends signed presence webhooks for users from workers
// goroutines to the replicas at bases, round robin, until stopped. A
// replica that refuses the connection is skipped for the next one, as a
// load balancer would; any other failure (503 included) is counted and
// the event dropped — Zoom would retry it, but what this load checks is
// that nothing acknowledged is lost.
type webhookLoad struct {
	acct  *zoomfake.Account
	users []zoomfake.User
	bases []string

	mu       sync.Mutex
	acks     []ackedAt
	failures int
	lastFail time.Time
	perBase  []int // acknowledgements per replica

	next  atomic.Int64
	stopc chan struct{}
	wg    sync.WaitGroup
}

type ackedAt struct {
	acked
	at time.Time
}

var presenceCycle = []string{"Available", "Away", "In_Meeting", "Do_Not_Disturb", "On_Phone_Call", "Presenting"}

func startWebhookLoad(t *testing.T, acct *zoomfake.Account, users []zoomfake.User, bases []string, workers int) *webhookLoad {
	l := &webhookLoad{acct: acct, users: users, bases: bases, perBase: make([]int, len(bases)), stopc: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopc:
					return
				default:
				}
				if !l.send(t, int(l.next.Add(1))) {
					return
				}
			}
		}()
	}
	return l
}

// send delivers the i-th event of the load: the users in turn, each
// cycling through presenceCycle. It reports false when no event could be
// made (the test has failed).
func (l *webhookLoad) send(t *testing.T, i int) bool {
	u := l.users[i%len(l.users)]
	ev, err := l.acct.PresenceEvent(u.ID, presenceCycle[(i/len(l.users))%len(presenceCycle)])
	if err != nil {
		t.Error(err)
		return false
	}
	l.deliver(i, u.ID, ev)
	return true
}

func (l *webhookLoad) deliver(i int, user string, ev zoomfake.Event) {
	for try := range l.bases {
		b := (i + try) % len(l.bases)
		code, err := l.acct.Deliver(context.Background(), l.bases[b]+"/webhooks/zoom/"+acctID, ev)
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // that replica is gone: the next one
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil || code != http.StatusOK {
			l.failures++
			l.lastFail = time.Now()
		} else {
			l.acks = append(l.acks, ackedAt{acked{user, zsync.WebhookVersion(ev.TS)}, time.Now()})
			l.perBase[b]++
		}
		return
	}
	l.mu.Lock()
	l.failures++
	l.lastFail = time.Now()
	l.mu.Unlock()
}

// acknowledged counts the webhooks acknowledged so far.
func (l *webhookLoad) acknowledged() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// ackedSince counts the webhooks acknowledged after at.
func (l *webhookLoad) ackedSince(at time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.acks, at, func(a ackedAt, t time.Time) int { return a.at.Compare(t) })
	return len(l.acks) - i
}

func (l *webhookLoad) stop() {
	close(l.stopc)
	l.wg.Wait()
}

// newest is the newest acknowledged version per user, of the webhooks
// acknowledged before cut.
func (l *webhookLoad) newest(cut time.Time) map[string]zsync.Version {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]zsync.Version{}
	for _, a := range l.acks {
		if a.at.After(cut) {
			break
		}
		out[a.user] = max(out[a.user], a.version)
	}
	return out
}

// missing counts users whose state lacks their newest acknowledged
// webhook (an unreadable record counts as missing).
func missing(ctx context.Context, store *zsync.Store, newest map[string]zsync.Version) int {
	n := 0
	for user, v := range newest {
		rec, err := store.User(ctx, acctID, user)
		if err != nil || rec.Versions[zsync.FieldZoomStatus] < v {
			n++
		}
	}
	return n
}

// recovered waits, load running, for the first moment after faultEnd at
// which webhooks are acknowledged again (none failed since the last
// acknowledgement) and every webhook acknowledged so far is in state, and
// returns how long after faultEnd that was.
func (l *webhookLoad) recovered(t *testing.T, store *zsync.Store, faultEnd time.Time, limit time.Duration) time.Duration {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		at := time.Now()
		l.mu.Lock()
		healthy := len(l.acks) > 0 && l.acks[len(l.acks)-1].at.After(faultEnd) && l.lastFail.Before(l.acks[len(l.acks)-1].at)
		l.mu.Unlock()
		if healthy && missing(ctx, store, l.newest(at)) == 0 {
			return at.Sub(faultEnd)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered %v after the fault (healthy=%v)", limit, healthy)
		}
		<-tick.C
	}
}

// settle stops the load and waits until every acknowledged webhook is in
// state; it fails the test if any is lost. It reports the counts.
func (l *webhookLoad) settle(t *testing.T, store *zsync.Store) (acknowledged, applied int) {
	t.Helper()
	l.stop()
	newest := l.newest(time.Now())
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for m := missing(ctx, store, newest); m > 0; m = missing(ctx, store, newest) {
		if time.Now().After(deadline) {
			t.Fatalf("LOST: %d users lack an acknowledged webhook's state", m)
		}
		<-tick.C
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d webhooks acknowledged, %d failed (503 or cut) and left to Zoom's retries", len(l.acks), l.failures)
	return len(l.acks), len(l.acks)
}

// serveReady runs serve in-process on r until the test ends (API token
// set, presence re-reads off, extra env on top), waits until it is ready,
// and returns its base URL and a store reading its state.
func serveReady(t *testing.T, fake *zoomfake.Server, r *testserver.Redis, extra map[string]string) (string, *zsync.Store) {
	t.Helper()
	env := serveEnv(fake, r.URL(), "127.0.0.1:0")
	env["ZOOMSYNC_API_TOKENS"] = apiToken
	env["ZOOMSYNC_PRESENCE_READS_PER_SECOND"] = "0"
	for k, v := range extra {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	base, done := startServe(ctx, loadConfig(t, env), "replica-1")
	if base == "" {
		t.Fatal(<-done)
	}
	eventually(t, "serve ready", func() bool { return status(base+"/readyz") == 200 })
	return base, zsync.NewStore(r.Client(), zsync.DefaultPartitions, 168*time.Hour)
}

// activeUsers are the first n active users of acct.
func activeUsers(t *testing.T, acct *zoomfake.Account, n int) []zoomfake.User {
	t.Helper()
	var out []zoomfake.User
	for _, u := range acct.Users() {
		if u.Status == "active" && len(out) < n {
			out = append(out, u)
		}
	}
	if len(out) < n {
		t.Fatalf("only %d active users", len(out))
	}
	return out
}

// writeTargets writes a targets file pushing every status to rcv.
func writeTargets(t *testing.T, rcv *pushReceiver) string { return writeTargetsTo(t, rcv.srv.URL) }

// writeTargetsTo writes a targets file of one webhook target "pbx" at url.
func writeTargetsTo(t *testing.T, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.json")
	statusMap := `{"available":"A","away":"W","in_meeting":"M","on_call":"C","dnd":"D","busy":"B","offline":"O","presenting":"P","in_calendar_event":"E","mobile_only":"X"}`
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`[{"name":"pbx","type":"webhook","url":%q,"secret":%q,"status_map":%s,"dead_after":"10m"}]`,
		url, pushSecret, statusMap)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// duplicates counts pushes of a seq the receiver had already accepted,
// in all and at most for one user, and fails the test if a user's pushes
// went back in seq.
func (r *pushReceiver) duplicates(t *testing.T) (dups, maxDups int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for u, got := range r.got {
		seen := map[int64]int{}
		last := int64(0)
		d := 0
		for _, b := range got {
			if b.Seq < last {
				t.Fatalf("user %s: seq %d arrived after %d", u, b.Seq, last)
			}
			if seen[b.Seq]++; seen[b.Seq] > 1 {
				d++
			}
			last = b.Seq
		}
		dups += d
		maxDups = max(maxDups, d)
	}
	return dups, maxDups
}

// delivered waits until the receiver's last push for every user in users
// carries the effective status in state: the target ends up right.
func (r *pushReceiver) delivered(t *testing.T, rdb redis.UniversalClient, store *zsync.Store, users []zoomfake.User) {
	t.Helper()
	ctx := context.Background()
	wrong := func() (n int, example string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, u := range users {
			rec, err := store.User(ctx, acctID, u.ID)
			if err != nil {
				n++
				continue
			}
			got := r.got[u.ID]
			if want := rec.Fields[zsync.FieldStatus]; want != "" && (len(got) == 0 || got[len(got)-1].Status != want) {
				n++
				example = u.ID + " wants " + want + " seq " + rec.Fields[zsync.FieldStatusSeq]
				if len(got) > 0 {
					example += fmt.Sprintf("; last pushed %s seq %d of %d pushes", got[len(got)-1].Status, got[len(got)-1].Seq, len(got))
				}
			}
		}
		return n, example
	}
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n, ex := wrong(); n > 0; n, ex = wrong() {
		if time.Now().After(deadline) {
			t.Fatalf("%d users' latest status never reached the target (e.g. %s)\n%s", n, ex, outboxState(rdb, strings.Fields(ex)[0]))
		}
		<-tick.C
	}
	if r.bad > 0 {
		t.Fatalf("%d pushes with a bad signature or body", r.bad)
	}
}

// outboxState describes the outbox partition of user (for a failure
// message): its sending lease, the user's due time, what was sent.
func outboxState(rdb redis.UniversalClient, user string) string {
	h := fnv.New32a()
	h.Write([]byte(user))
	tag := fmt.Sprintf("zs:{a:%s:p:%02d}", acctID, h.Sum32()%zsync.DefaultPartitions)
	ctx := context.Background()
	lease, _ := rdb.Get(ctx, tag+":outlease").Result()
	ttl, _ := rdb.PTTL(ctx, tag+":outlease").Result()
	due, _ := rdb.ZScore(ctx, tag+":due:pbx", user).Result()
	dueCount, _ := rdb.ZCard(ctx, tag+":due:pbx").Result()
	sent, _ := rdb.HGet(ctx, tag+":sent:pbx", user).Result()
	out, _ := rdb.HGet(ctx, tag+":out", user).Result()
	replicas, _ := rdb.ZRangeWithScores(ctx, coord.MembersKey, 0, -1).Result()
	return fmt.Sprintf("%s: lease %q (ttl %v), user due at %.0f (now %d; %d due), sent seq %s, outbox %q; live senders %v",
		tag, lease, ttl, due, time.Now().UnixMilli(), dueCount, sent, out, replicas)
}

// TestRedisPausedUnderLoad: redis-server is frozen with SIGSTOP (a
// network partition or a stalled VM: connections stay open, nothing
// answers) while webhooks arrive and presence is pushed to a target.
// Webhooks answer 503 rather than hang, nothing acknowledged is lost, the
// target ends with every user's latest status, and after SIGCONT the
// worker recovers by itself.
func TestRedisPausedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes redis-server for seconds")
	}
	pause := 5 * time.Second
	if reliabilityLong() {
		pause = 30 * time.Second
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, 600)
	users := activeUsers(t, acct, 500)
	rcv := newPushReceiver(t)
	base, store := serveReady(t, fake, r, map[string]string{"ZOOMSYNC_TARGETS_FILE": writeTargets(t, rcv)})

	load := startWebhookLoad(t, acct, users, []string{base}, 8)
	eventually(t, "webhooks acknowledged before the pause", func() bool { return load.acknowledged() > 500 })
	r.Pause()
	paused := time.Now()
	<-time.After(pause) // the fault's length is the scenario, not a synchronisation
	r.Resume()
	resumed := time.Now()
	if load.ackedSince(paused.Add(4*time.Second)) > load.ackedSince(resumed) {
		t.Errorf("webhooks were acknowledged while Redis was frozen")
	}
	recovery := load.recovered(t, store, resumed, 60*time.Second)
	eventually(t, "webhooks acknowledged after the pause", func() bool { return load.ackedSince(resumed) > 500 })
	acknowledged, applied := load.settle(t, store)
	rcv.delivered(t, r.Client(), store, users)
	dups, _ := rcv.duplicates(t)
	reliability(t, fmt.Sprintf("redis-server frozen %v (SIGSTOP/SIGCONT) under webhook load, target pushing", pause), acknowledged, applied, 0, dups, recovery)
}

// TestClusterMasterKilledUnderLoad: on a 3-master Redis Cluster with a
// replica per master, one master is SIGKILLed while webhooks arrive
// (ZOOMSYNC_REDIS_MIN_REPLICAS=1: a webhook is acknowledged once a replica
// has it). The cluster promotes its replica, the old master comes back as
// a replica, serve follows by itself, nothing acknowledged is lost and the
// target ends with every user's latest status.
func TestClusterMasterKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a six-node cluster and kills a master")
	}
	c := testserver.StartClusterWith(t, testserver.ClusterOptions{Replicas: 1, Security: runSecurity(t)})
	fake, acct := startFake(t, 600)
	users := activeUsers(t, acct, 500)
	rcv := newPushReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := c.Env()
	for k, v := range map[string]string{"ZOOMSYNC_REDIS_MIN_REPLICAS": "1", "ZOOMSYNC_TARGETS_FILE": writeTargets(t, rcv), "ZOOMSYNC_PRESENCE_READS_PER_SECOND": "0"} {
		env[k] = v
	}
	base, _ := serveOnRedisAddrs(ctx, t, fake, c.Addrs(), env)
	store := zsync.NewStore(c.Client(t), zsync.DefaultPartitions, 168*time.Hour)

	role := func(n *testserver.Redis) string {
		o := n.Options()
		o.MaxRetries, o.DialTimeout = -1, 200*time.Millisecond
		cl := redis.NewClient(o)
		defer cl.Close()
		v, err := cl.Do(ctx, "ROLE").Slice()
		if err != nil || len(v) == 0 {
			return ""
		}
		s, _ := v[0].(string)
		return s
	}
	var victim *testserver.Redis
	for _, n := range c.Nodes {
		if role(n) == "master" {
			victim = n
			break
		}
	}
	load := startWebhookLoad(t, acct, users, []string{base}, 8)
	eventually(t, "webhooks acknowledged before the kill", func() bool { return load.acknowledged() > 500 })
	victim.Kill()
	killed := time.Now()
	eventually(t, "the cluster promotes the replica", func() bool {
		masters := 0
		for _, n := range c.Nodes {
			if n != victim && role(n) == "master" {
				masters++
			}
		}
		return masters == 3
	})
	promoted := time.Since(killed)
	victim.Restart() // comes back as the new master's replica
	recovery := load.recovered(t, store, killed, 90*time.Second)
	eventually(t, "webhooks acknowledged after the failover", func() bool { return load.ackedSince(killed.Add(recovery)) > 500 })
	acknowledged, applied := load.settle(t, store)
	rcv.delivered(t, c.Client(t), store, users)
	dups, _ := rcv.duplicates(t)
	t.Logf("replica promoted %v after the kill", promoted.Round(time.Millisecond))
	reliability(t, "Redis Cluster master SIGKILLed under webhook load, replica promoted (ZOOMSYNC_REDIS_MIN_REPLICAS=1), target pushing",
		acknowledged, applied, 0, dups, recovery)
}

// TestReplicaKilledOthersTakeOver: three serve processes (the real
// binary) share one Redis; webhooks go to all three, a load balancer
// moving on when one refuses connections. One replica is SIGKILLed: the
// other two take its inbox entries (claimed after 10 s idle), its outbox
// partitions and its leases, and nothing acknowledged is lost.
func TestReplicaKilledOthersTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three processes")
	}
	bin := buildBinary(t)
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, 600)
	users := activeUsers(t, acct, 500)
	rcv := newPushReceiver(t)
	targets := writeTargets(t, rcv)
	var procs []*exec.Cmd
	var bases []string
	for range 3 {
		env := serveEnv(fake, r.URL(), "")
		env["ZOOMSYNC_TARGETS_FILE"] = targets
		env["ZOOMSYNC_PRESENCE_READS_PER_SECOND"] = "0"
		p, base := startServeBinary(t, bin, env)
		procs, bases = append(procs, p), append(bases, base)
	}
	store := zsync.NewStore(r.Client(), zsync.DefaultPartitions, 168*time.Hour)
	load := startWebhookLoad(t, acct, users, bases, 12)
	eventually(t, "webhooks acknowledged before the kill", func() bool { return load.acknowledged() > 1500 })
	hostname, _ := os.Hostname()
	victim := procs[1].Process
	dead := fmt.Sprintf("%s-%d", hostname, victim.Pid) // its consumer name
	rdb := r.Client()
	pendingOfDead := func() int64 {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.XPendingCmd, zsync.DefaultPartitions)
		for p := range cmds {
			cmds[p] = pipe.XPending(context.Background(), fmt.Sprintf("zs:{a:%s:p:%02d}:inbox", acctID, p), zsync.ConsumerGroup)
		}
		if _, err := pipe.Exec(context.Background()); err != nil {
			return -1
		}
		var n int64
		for _, c := range cmds {
			n += c.Val().Consumers[dead]
		}
		return n
	}
	// The worst moment to die is holding entries read but not yet
	// acknowledged (a window of microseconds between XREADGROUP and the
	// apply script): freeze the replica until it is caught in one, then
	// SIGKILL it.
	var left int64
	for try := 0; try < 500 && left <= 0; try++ {
		_ = victim.Signal(syscall.SIGSTOP)
		if left = pendingOfDead(); left <= 0 {
			_ = victim.Signal(syscall.SIGCONT)
		}
	}
	_ = victim.Kill()
	killed := time.Now()
	_ = procs[1].Wait()
	recovery := load.recovered(t, store, killed, 90*time.Second)
	// The survivors claim the dead replica's entries once idle for 10 s (a
	// superseding event may have made the state right sooner; the entries
	// are applied all the same).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(60 * time.Second); pendingOfDead() != 0; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("the dead replica's %d pending entries were never claimed", pendingOfDead())
		}
	}
	claimed := time.Since(killed)
	eventually(t, "webhooks acknowledged after the kill", func() bool { return load.ackedSince(killed.Add(recovery)) > 500 })
	acknowledged, applied := load.settle(t, store)
	t.Cleanup(func() { // what each survivor's sender held, when a target ended stale
		if t.Failed() {
			for i, b := range bases {
				if i != 1 {
					m := metricsText(t, b)
					t.Logf("replica %d: owned %d share %d", i, metricInt(m, "zoomsync_outbox_partitions_owned"), metricInt(m, "zoomsync_outbox_partitions_share"))
				}
			}
		}
	})
	rcv.delivered(t, rdb, store, users)
	dups, _ := rcv.duplicates(t)
	t.Logf("state right again %v after the kill; the dead replica's %d pending inbox entries claimed by the others after %v",
		recovery.Round(time.Millisecond), left, claimed.Round(time.Millisecond))
	reliability(t, "one of three serve replicas SIGKILLed under webhook load, target pushing", acknowledged, applied, 0, dups, claimed)
}

// buildBinary builds the zoomsync binary once per test.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zoomsync")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/zoomsync").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestResyncThroughZoomErrorStorm: a full resync runs while the fake Zoom
// answers 20% of API calls with 5xx (500, 502, 503, 504 in turn) and
// bursts of QPS 429s, and webhooks keep arriving. The run either
// completes through the client's retries with exactly Zoom's changes
// applied, or fails having deleted nothing; either way a run after the
// storm converges, and no acknowledged webhook is lost.
func TestResyncThroughZoomErrorStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("a resync against an erring fake Zoom")
	}
	r := testserver.StartRedis(t, testserver.RedisOptions{AOF: true})
	fake, acct := startFake(t, 3000)
	users := activeUsers(t, acct, 2000)
	base, store := serveReady(t, fake, r, nil)
	ctx := context.Background()

	// What changed in Zoom since the first pull (webhooks missed).
	webhookUsers, changed := users[:500], users[500:]
	var gone, renamed []string
	for i := range 3 {
		_ = acct.DeleteUser(changed[i].ID)
		gone = append(gone, changed[i].ID)
		u, _ := acct.UpdateUser(changed[10+i].ID, func(u *zoomfake.User) { u.Email = "renamed-" + u.Email })
		renamed = append(renamed, u.ID)
	}
	var created []zoomfake.User
	for i := range 3 {
		created = append(created, acct.CreateUser(zoomfake.User{Email: fmt.Sprintf("new-%d@example.com", i), FirstName: "New", LastName: "Hire"}))
	}
	converged := func() bool {
		for _, id := range gone {
			if rec, err := store.User(ctx, acctID, id); err != nil || !rec.Deleted() {
				return false
			}
		}
		for _, id := range renamed {
			u, _ := acct.User(id)
			if rec, err := store.User(ctx, acctID, id); err != nil || rec.Fields[zsync.FieldEmail] != u.Email {
				return false
			}
		}
		for _, u := range created {
			if rec, err := store.User(ctx, acctID, u.ID); err != nil || rec.Fields[zsync.FieldEmail] != u.Email {
				return false
			}
		}
		return true
	}

	load := startWebhookLoad(t, acct, webhookUsers, []string{base}, 4)
	eventually(t, "webhooks flowing", func() bool { return load.acknowledged() > 200 })
	fake.ResetStats()
	stormDone := make(chan struct{})
	stormStopped := make(chan struct{})
	go func() { // the storm: 20% 5xx throughout, a burst of 429s every 500 ms
		defer close(stormStopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			f := zoomfake.Faults{FailRate: 0.2, Status: []int{500, 502, 503, 504}[k%4]}
			if k%5 == 0 {
				f.StormQPS = 8
			}
			fake.SetFaults(f)
			select {
			case <-stormDone:
				fake.SetFaults(zoomfake.Faults{})
				return
			case <-tick.C:
			}
		}
	}()

	resync := func() (status string, res runs.AccountResult) {
		var run struct {
			RunID string `json:"run_id"`
		}
		if code := postJSON(t, base+"/v1/resync", &run); code != http.StatusAccepted {
			t.Fatalf("POST /v1/resync: %d", code)
		}
		var rec runs.Record
		eventually(t, "the run finishes", func() bool {
			return getJSON(t, base+"/v1/resync/"+run.RunID, &rec) == 200 && (rec.Status == "succeeded" || rec.Status == "failed")
		})
		if len(rec.Accounts) != 1 {
			t.Fatalf("run record %+v", rec)
		}
		return rec.Status, rec.Accounts[0]
	}
	started := time.Now()
	st, res := resync()
	close(stormDone)
	<-stormStopped
	stats := fake.Stats()
	t.Logf("resync under the storm: %s in %v (%d 5xx and %d 429s answered): %s", st, time.Since(started).Round(time.Millisecond),
		stats.ServerErrors, stats.TooManyQPS, res.Summary)
	if stats.ServerErrors == 0 || stats.TooManyQPS == 0 {
		t.Fatalf("the storm did not happen: %+v", stats)
	}
	switch st {
	case "succeeded":
		if res.Deleted != len(gone) || !res.Complete {
			t.Fatalf("a complete run should delete exactly the %d gone users: %+v", len(gone), res)
		}
	default: // failed: nothing may have been deleted
		if res.Deleted != 0 || res.Deactivated != 0 {
			t.Fatalf("a failed run deleted: %+v", res)
		}
		t.Logf("the run failed under the storm and deleted nothing; running again after it")
		if st, res = resync(); st != "succeeded" {
			t.Fatalf("the run after the storm: %s %+v", st, res)
		}
	}
	eventually(t, "the state matches Zoom", converged)
	recovery := time.Since(started)
	acknowledged, applied := load.settle(t, store)
	reliability(t, "full resync through 20% Zoom 5xx and 429 storms, webhooks arriving", acknowledged, applied, 0, -1, recovery)
}

// midReadProxy forwards TCP to an LDAP server. Once armed, it freezes the
// first connection whose answers pass `after` bytes — a directory read in
// progress — and tells the test, which restarts the server and then
// releases the proxy: that connection is cut, new ones go to the restarted
// server.
type midReadProxy struct {
	ln      net.Listener
	target  string
	after   int64
	armed   atomic.Bool
	caught  chan struct{} // closed when a read is frozen mid-way
	release chan struct{} // closed by the test after the restart
	once    sync.Once
}

func startMidReadProxy(t *testing.T, target string, after int64) *midReadProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &midReadProxy{ln: ln, target: target, after: after, caught: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *midReadProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(server, client); server.Close() }()
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := server.Read(buf)
		if k > 0 {
			n += int64(k)
			if n > p.after && p.armed.Load() && p.armed.CompareAndSwap(true, false) {
				p.once.Do(func() { close(p.caught) })
				<-p.release
				return // the read is cut where it stood
			}
			if _, werr := client.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestSlapdRestartedDuringDirectoryRead: slapd is restarted while the
// mapper is part-way through reading 5,000 entries. No link changes
// meanwhile (a partial read never unlinks anyone), and a complete read
// follows by itself within seconds: the directory client retries the cut
// read on a new connection, and a read that failed for good is retried by
// the mapper (TestFailedDirectoryReadIsRetriedSoon).
func TestSlapdRestartedDuringDirectoryRead(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts slapd during a read")
	}
	const n = 5000
	slapd := testserver.StartSlapd(t, testserver.SlapdOptions{Users: n})
	proxy := startMidReadProxy(t, strings.TrimPrefix(slapd.URL, "ldap://"), 200<<10)
	r := testserver.StartRedis(t, testserver.RedisOptions{})
	fake, _ := startFake(t, n)
	base, _ := serveReady(t, fake, r, map[string]string{"LDAP_URL": "ldap://" + proxy.ln.Addr().String(), "LDAP_BIND_DN": testserver.ServiceBindDN,
		"LDAP_BIND_PASSWORD": testserver.ServicePassword, "LDAP_BASE_DN": testserver.UsersDN, "ZOOMSYNC_MATCH_RULES": "email=mail",
		"ZOOMSYNC_DIRECTORY_REFRESH": "1m"})
	var rep reportCounts
	// Every user pulled and linked (a first mapping may run while the
	// first pull is still paging).
	eventually(t, "every user linked", func() bool {
		return getJSON(t, base+"/v1/mapping/report", &rep) == 200 && rep.Counts["matched"] == n && rep.Counts["unmatched_users"] == 0
	})
	before := rep.Counts["matched"]
	okReads := func() int { return metricInt(metricsText(t, base), `zoomsync_directory_reads_total{result="ok"}`) }
	readsBefore := okReads()

	// Watch the links while the fault happens: none may drop.
	lowest := atomic.Int64{}
	lowest.Store(int64(before))
	watching, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var rc reportCounts
			if getJSON(t, base+"/v1/mapping/report", &rc) == 200 && int64(rc.Counts["matched"]) < lowest.Load() {
				lowest.Store(int64(rc.Counts["matched"]))
			}
			select {
			case <-watching:
				return
			case <-tick.C:
			}
		}
	}()
	proxy.armed.Store(true)
	if code := postJSON(t, base+"/v1/resync", nil); code != http.StatusAccepted { // a resync reads the directory
		t.Fatalf("POST /v1/resync: %d", code)
	}
	select {
	case <-proxy.caught:
	case <-time.After(60 * time.Second):
		t.Fatal("no directory read reached the proxy")
	}
	slapd.Restart()
	restarted := time.Now()
	close(proxy.release)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(60 * time.Second); okReads() <= readsBefore; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatal("the directory was not read again within 60 s of the restart")
		}
	}
	recovery := time.Since(restarted)
	t.Logf("%d reads failed for good (0: the directory client's own retry got through); a complete read %v after the restart",
		metricInt(metricsText(t, base), `zoomsync_directory_reads_total{result="failed"}`), recovery.Round(time.Millisecond))
	close(watching)
	<-watched
	eventually(t, "links after the restart", func() bool {
		return getJSON(t, base+"/v1/mapping/report", &rep) == 200 && rep.Counts["unmatched_users"] == 0
	})
	after := rep.Counts["matched"]
	lost := before - int(lowest.Load())
	if lost != 0 || after != before {
		t.Fatalf("links: %d before, %d after, %d lowest meanwhile", before, after, lowest.Load())
	}
	reliability(t, fmt.Sprintf("slapd restarted during a directory read of %d entries (links before / after)", n), before, after, lost, -1, recovery)
}
