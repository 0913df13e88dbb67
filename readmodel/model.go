package readmodel

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/mapping/mapstore"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// Observer is told what the model does (the process's metrics).
type Observer interface {
	// Loaded: a full load of users took d (reason: start, gap, mapping,
	// drift).
	Loaded(users int, d time.Duration, reason string)
	// Drifted: a drift check found users whose record differs.
	Drifted(users int)
	// Looked: a Lookup was answered by the model (held) or not (the
	// caller asks Redis).
	Looked(held bool)
}

// Options configure a Model.
type Options struct {
	Accounts []string // the accounts it holds
	// DriftEvery is how often every record's versions are compared with
	// the model's (default 1 minute); MappingEvery how often the
	// published mapping's version is read (default 5 s).
	DriftEvery, MappingEvery time.Duration
	Clock                    clockwork.Clock
	Logger                   *slog.Logger
	Observer                 Observer
}

// Model is a replica's in-memory read model of the users.
type Model struct {
	rdb   redis.UniversalClient
	store *zsync.Store
	opts  Options

	mu    sync.RWMutex
	t     *table
	extra []map[string][]zsync.UserRef // per Profile lookup key without a record field: values the other keys do not cover
	ready atomic.Bool
	// mapping is the published mapping's version (its computed_at) read
	// before the last full load began: the load holds that mapping's
	// links, or newer ones. Empty until a load saw a published mapping.
	mapping atomic.Pointer[string]

	pmu     sync.Mutex
	pending map[zsync.UserRef]struct{}
	wake    chan struct{}
	reload  chan string

	smu  sync.Mutex
	subs map[chan Person]struct{}
}

// New returns a model of the users of store; Run fills and feeds it.
func New(rdb redis.UniversalClient, store *zsync.Store, opts Options) *Model {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DriftEvery <= 0 {
		opts.DriftEvery = time.Minute
	}
	if opts.MappingEvery <= 0 {
		opts.MappingEvery = 5 * time.Second
	}
	return &Model{rdb: rdb, store: store, opts: opts, t: newTable(0), pending: map[zsync.UserRef]struct{}{},
		wake: make(chan struct{}, 1), reload: make(chan string, 1), subs: map[chan Person]struct{}{}}
}

// Ready reports whether the first full load completed: before it, every
// lookup falls back to Redis.
func (m *Model) Ready() bool { return m.ready.Load() }

// MappingVersion is the version (computed_at) of the published mapping
// the model's last full load holds, or "" when no load has seen one. A
// replica whose directory mapping is configured is not ready until it
// is set: before, lookups would show users without their directory
// links.
func (m *Model) MappingVersion() string {
	if v := m.mapping.Load(); v != nil {
		return *v
	}
	return ""
}

// Len is the number of users held.
func (m *Model) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.t.live
}

// Lookup finds the users a helpdesk key names, as Redis's lookup indices
// would: the key as a Zoom user id, an email (Zoom's or the linked
// entry's), an extension, or a value of a Profile lookup key. held is
// false when the model has no user under the key (or is not loaded yet):
// the caller must ask Redis, which may know a user the model does not
// yet.
func (m *Model) Lookup(key string) (people []Person, held bool) {
	people, held = m.lookup(key)
	if m.opts.Observer != nil {
		m.opts.Observer.Looked(held)
	}
	return people, held
}

func (m *Model) lookup(key string) (people []Person, held bool) {
	if !m.ready.Load() {
		return nil, false
	}
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, false
	}
	lower := strings.ToLower(key)
	email := strings.Contains(key, "@")
	digits := strings.Trim(key, "0123456789") == "" && len(key) <= 15
	m.mu.RLock()
	defer m.mu.RUnlock()
	t := m.t
	var rows []uint32
	add := func(i uint32) {
		if !slices.Contains(rows, i) {
			rows = append(rows, i)
		}
	}
	probe := func(kt *keyTable, k int, v string) {
		kt.each(hashKey(v), func(i uint32) bool {
			if string(t.keyOf(i, k)) == v {
				add(i)
			}
			return true
		})
	}
	if !email {
		probe(&t.byID, 0, key) // every account (the id's rows differ by account)
	}
	if email {
		probe(&t.byEmail, sEmail, lower)
	}
	if digits {
		probe(&t.byExt, sExt, lower)
	}
	var extra []zsync.UserRef
	iv := mapstore.IndexValue(key)
	d, x := 0, 0
	for _, f := range mapstore.Profile {
		if f.Index == nil {
			continue
		}
		if f.Record != "" {
			if f.Index(key) {
				probe(&t.byDir[d], sDirKeys+d, iv)
			}
			d++
			continue
		}
		if f.Index(key) && x < len(m.extra) {
			extra = append(extra, m.extra[x][iv]...)
		}
		x++
	}
	for _, r := range extra {
		if i, ok := t.find(r.Account, r.Key); ok {
			add(i)
		} else {
			return nil, false // a user the model does not hold
		}
	}
	if len(rows) == 0 {
		return nil, false
	}
	// In the accounts' order, as the Redis lookup answers.
	slices.SortStableFunc(rows, func(a, b uint32) int {
		return slices.Index(m.opts.Accounts, t.small.strs[t.rows[a].account]) - slices.Index(m.opts.Accounts, t.small.strs[t.rows[b].account])
	})
	people = make([]Person, len(rows))
	for k, i := range rows {
		people[k] = t.person(i)
	}
	return people, true
}

// Search answers a GET /v1/people query from memory.
func (m *Model) Search(q Query) Page {
	q.Limit = max(q.Limit, 1)
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.t.search(q)
}

// Subscribe returns a channel that receives every user the feed re-read
// (buffered: a slow reader misses updates rather than slowing the
// model), and a function that closes it.
func (m *Model) Subscribe(buffer int) (<-chan Person, func()) {
	c := make(chan Person, buffer)
	m.smu.Lock()
	m.subs[c] = struct{}{}
	m.smu.Unlock()
	return c, func() {
		m.smu.Lock()
		delete(m.subs, c)
		m.smu.Unlock()
	}
}

func (m *Model) publish(ps []Person) {
	m.smu.Lock()
	defer m.smu.Unlock()
	for c := range m.subs {
		for _, p := range ps {
			select {
			case c <- p:
			default:
			}
		}
	}
}
