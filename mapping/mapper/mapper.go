package mapper

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/directory"
	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/periodic"
	"github.com/zoomsync/zoomsync/mapping"
	"github.com/zoomsync/zoomsync/mapping/mapstore"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// Reader reads the directory (directory.Directory).
type Reader interface {
	// Read returns every person, or an error and nothing (all or nothing).
	Read(ctx context.Context, attrs []string, splits []string) (*directory.Snapshot, error)
	// SplitPoints are where the next read of a directory like s can be cut.
	SplitPoints(s *directory.Snapshot) []string
}

// Observer is told what the mapping does (the process's metrics).
type Observer interface {
	// DirectoryRead: result is ok (entries: the stored snapshot's), failed
	// (unreachable, partial) or refused (empty, or shrank too much).
	DirectoryRead(result string, entries int)
	// MappingRun: result is ok or failed; sizes are an ok run's report:
	// matched, each of mapstore.ReportCategories, and conflicted_users
	// (users a conflict holds back).
	MappingRun(result string, sizes map[string]int)
}

// Options configure a Mapper.
type Options struct {
	Rules    []mapping.Rule // ZOOMSYNC_MATCH_RULES, in order
	Accounts []string       // the Zoom accounts whose users are linked
	// MaxDrop is the fraction of the stored snapshot's people a read may
	// drop before it is refused (ZOOMSYNC_MAX_DELETE_FRACTION).
	MaxDrop float64
	// Every is how often the directory is read (ZOOMSYNC_DIRECTORY_REFRESH).
	Every time.Duration
	// Debounce is how long a burst of user changes may go on before the
	// links are computed (default 2 s).
	Debounce time.Duration
	// Lease is the "mapping" lease acting for this replica.
	Lease    *coord.Lease
	Clock    clockwork.Clock
	Logger   *slog.Logger
	Observer Observer // nil: nobody
}

// Mapper keeps the directory snapshot fresh and the links computed: it
// reads the directory every refresh interval and when asked (after a
// resync), and recomputes links after user changes (debounced). It works
// under the "mapping" lease: one replica at a time.
type Mapper struct {
	rdb      redis.UniversalClient
	store    *zsync.Store
	dir      Reader
	rules    []mapping.Rule
	accounts []string
	lease    *coord.Lease
	clock    clockwork.Clock
	log      *slog.Logger
	obs      Observer
	maxDrop  float64
	every    time.Duration
	debounce time.Duration

	dirty   *periodic.Kick // user data changed: recompute links
	refresh *periodic.Kick // read the directory again

	mu   sync.Mutex
	snap *directory.Snapshot
	meta mapstore.SnapshotMeta
}

// New returns the mapper of the users in store against the directory dir.
func New(rdb redis.UniversalClient, store *zsync.Store, dir Reader, opts Options) *Mapper {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = nobody{}
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 2 * time.Second
	}
	return &Mapper{rdb: rdb, store: store, dir: dir, rules: opts.Rules, accounts: opts.Accounts, lease: opts.Lease,
		clock: opts.Clock, log: opts.Logger, obs: opts.Observer, maxDrop: opts.MaxDrop, every: opts.Every, debounce: opts.Debounce,
		dirty: periodic.NewKick(), refresh: periodic.NewKick()}
}

type nobody struct{}

func (nobody) DirectoryRead(string, int)         {}
func (nobody) MappingRun(string, map[string]int) {}

// MarkDirty asks for a recomputation of the links (never blocks): user
// data changed.
func (mp *Mapper) MarkDirty() { mp.dirty.Kick() }

// RefreshNow asks for a directory read (never blocks).
func (mp *Mapper) RefreshNow() { mp.refresh.Kick() }

// LeaseName is the mapping lease's name (coord.NewLease).
const LeaseName = "mapping"

// Names of the mapping's periodic jobs (their metrics' job label).
const (
	JobDirectoryRead = "directory_read"
	JobLink          = "mapping_link"
)

// Specs are the mapping's periodic jobs, both under the mapping lease:
// the directory read (at start, every refresh interval, and when
// RefreshNow asks), and the link computation after user changes (when
// MarkDirty asks, debounced so that a burst of user events lands
// first). A failed directory read is tried again soon rather than at
// the next refresh: after a tenth of the interval (at most 30 s),
// doubling up to the interval. A slapd restart or a domain controller
// failover costs seconds of staleness, not a refresh period.
func (mp *Mapper) Specs() []periodic.Spec {
	return []periodic.Spec{
		{Name: JobDirectoryRead, Job: readJob{mp}, Schedule: periodic.Every(mp.every), AtStart: true, Lease: mp.lease, Kick: mp.refresh,
			Retry: periodic.Backoff{First: min(mp.every/10, 30*time.Second), Max: mp.every}},
		// The holder may have started before the change that kicked a
		// run another replica's lease turned away: look again later.
		{Name: JobLink, Job: linkJob{mp}, Lease: mp.lease, Kick: mp.dirty, Debounce: mp.debounce, KickWhenHeld: true},
	}
}

// Run reads and links until ctx ends (Specs on a runner of their own).
func (mp *Mapper) Run(ctx context.Context) {
	r := periodic.New(periodic.Options{Clock: mp.clock, Logger: mp.log})
	r.Add(mp.Specs()...)
	r.Run(ctx)
}

// readJob reads the directory and recomputes every link. A failed or
// refused read fails the job (it is retried soon) even though the links
// were computed against the previous snapshot.
type readJob struct{ mp *Mapper }

func (j readJob) Run(ctx context.Context, _ coord.Fence) error {
	_, _, readErr, err := j.mp.readAndLink(ctx)
	if err != nil {
		return j.mp.failed(ctx, err)
	}
	return readErr
}

// linkJob recomputes the links against the stored snapshot.
type linkJob struct{ mp *Mapper }

func (j linkJob) Run(ctx context.Context, _ coord.Fence) error {
	if _, _, err := j.mp.remap(ctx); err != nil {
		return j.mp.failed(ctx, err)
	}
	return nil
}

// failed reports a link computation that failed (not one stopped by
// serve's end).
func (mp *Mapper) failed(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		mp.obs.MappingRun("failed", nil)
	}
	return fmt.Errorf("mapping run failed; links unchanged: %w", err)
}

// Summary is what `zoomsync map` and `zoomsync resync` print.
type Summary struct {
	Entries  int
	Result   *mapping.Result
	Written  int
	ReadErr  error
	Duration time.Duration
}

func (s Summary) String() string {
	if s.Result == nil {
		return fmt.Sprintf("directory: no complete read yet (%v); no links computed", s.ReadErr)
	}
	r := s.Result
	line := fmt.Sprintf("directory: %d entries; links: matched %d, unmatched users %d, unmatched entries %d, conflicts %d, disabled but active %d; %d links written; duration %s",
		s.Entries, len(r.Links), len(r.UnmatchedUsers), len(r.UnmatchedEntries), len(r.Conflicts), len(r.DisabledActive), s.Written, s.Duration.Round(time.Millisecond))
	if s.ReadErr != nil {
		line += fmt.Sprintf(" (the directory read failed, links kept from the previous snapshot: %v)", s.ReadErr)
	}
	return line
}

// Once reads the directory and recomputes every link now, under the
// lease (waiting for it while another replica holds it).
func (mp *Mapper) Once(ctx context.Context) (Summary, error) {
	var sum Summary
	start := mp.clock.Now()
	for {
		ran, err := mp.lease.Hold(ctx, func(ctx context.Context, _ coord.Fence) error {
			var err error
			sum.Result, sum.Written, sum.ReadErr, err = mp.readAndLink(ctx)
			return err
		})
		if err != nil {
			return sum, err
		}
		if ran {
			break
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-mp.clock.After(time.Second):
		}
	}
	mp.mu.Lock()
	if mp.snap != nil {
		sum.Entries = len(mp.snap.Entries)
	}
	mp.mu.Unlock()
	sum.Duration = mp.clock.Since(start)
	return sum, sum.ReadErr
}
