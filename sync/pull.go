package zsync

import (
	"context"
	"iter"
	"log/slog"
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/zoomapi"
)

// PullSummary counts what one account's full pull saw and changed.
type PullSummary struct {
	Account  string
	Pages    int
	Seen     int
	Created  int // records that did not exist before
	Updated  int // existing records with at least one value changed (a pull that only confirms values counts nothing)
	Started  time.Time
	Duration time.Duration
	Complete bool // every page of every status was read
}

// Puller runs full pulls of one account into the store. A pull only adds
// and updates: a user missing from it is never deleted here (deletion
// candidates, their confirmation and the mass-deletion guard come with the
// resync).
type Puller struct {
	rdb    redis.UniversalClient
	store  *Store
	client *zoomapi.Client
	clock  clockwork.Clock
	logger *slog.Logger
}

// NewPuller returns a puller for the client's account.
func NewPuller(rdb redis.UniversalClient, store *Store, client *zoomapi.Client, clock clockwork.Clock, logger *slog.Logger) *Puller {
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Puller{rdb: rdb, store: store, client: client, clock: clock, logger: logger}
}

// pullCompleteKey records when the account's last complete pull finished.
func pullCompleteKey(account string) string { return "zs:{a:" + account + "}:pull:complete_ms" }

// Pull reads every user of every status and applies each page through the
// versioned writes. An error leaves what was applied (it is all versioned)
// and returns a summary with Complete false.
func (p *Puller) Pull(ctx context.Context) (PullSummary, error) {
	return p.pull(ctx, nil, ResyncOptions{})
}

// pull is Pull with a callback per row and, for a dry run, no writes.
func (p *Puller) pull(ctx context.Context, onRow func(Write), opts ResyncOptions) (PullSummary, error) {
	account := p.client.AccountID()
	sum := PullSummary{Account: account, Started: p.clock.Now()}
	// Phone extensions come from another API (its own rate limits): read
	// them meanwhile. A record they reach first is completed by its user row.
	var extensions chan struct{}
	if !opts.DryRun {
		extensions = make(chan struct{})
		go func() { defer close(extensions); p.pullExtensions(ctx, account) }()
		defer func() { <-extensions }() // whatever happens below, do not leave it writing
	}
	pages := func(ctx context.Context) iter.Seq2[*zoomapi.UsersPage, error] {
		return p.client.Users.AllStatuses(ctx, zoomapi.DefaultPageSize)
	}
	totals := map[string]int{} // total_records by status
	for page, err := range prefetched(ctx, pages) {
		if err != nil {
			sum.Duration = p.clock.Since(sum.Started)
			return sum, err
		}
		writes := make([]Write, len(page.Users))
		for i, u := range page.Users {
			writes[i] = PulledUserWrite(account, u, page.RequestedAt)
			if onRow != nil {
				onRow(writes[i])
			}
		}
		sum.Pages++
		sum.Seen += len(page.Users)
		if opts.Progress != nil {
			totals[page.Status] = max(totals[page.Status], page.TotalRecords)
			total := 0
			for _, n := range totals {
				total += n
			}
			opts.Progress(account, sum.Seen, total)
		}
		if opts.DryRun {
			continue
		}
		// Read before the write, to tell a created user from an updated one
		// and an update from a confirmation (a pull re-writes every field
		// with its newer version; "updated" counts users whose values moved).
		existed, changed, err := p.existing(ctx, writes)
		if err != nil {
			return sum, err
		}
		applied, err := p.store.ApplyBatch(ctx, writes)
		if err != nil {
			sum.Duration = p.clock.Since(sum.Started)
			return sum, err
		}
		for i, n := range applied {
			switch {
			case n > 0 && !existed[i]:
				sum.Created++
			case n > 0 && changed[i]:
				sum.Updated++
			}
		}
	}
	sum.Complete = true
	if extensions != nil {
		<-extensions
	}
	sum.Duration = p.clock.Since(sum.Started)
	if opts.DryRun {
		return sum, nil
	}
	if err := p.rdb.Set(ctx, pullCompleteKey(account), strconv.FormatInt(p.clock.Now().UnixMilli(), 10), 0).Err(); err != nil {
		return sum, unavailable("zsync.Puller.Pull", err)
	}
	p.logger.Info("full pull complete", slog.String("account_id", account), slog.Int("pages", sum.Pages),
		slog.Int("seen", sum.Seen), slog.Int("created", sum.Created), slog.Int("updated", sum.Updated),
		slog.Duration("duration", sum.Duration))
	return sum, nil
}

// prefetched yields what seq(ctx) yields, fetching the next item while the
// caller handles the current one: the next page comes from Zoom while this
// one is written to Redis. Stopping early cancels the fetch under way.
func prefetched[T any](ctx context.Context, seq func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		type item struct {
			v   T
			err error
		}
		items := make(chan item, 1)
		go func() {
			defer close(items)
			for v, err := range seq(ctx) {
				select {
				case items <- item{v, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		defer func() {
			cancel()
			for range items { // let the fetcher end before returning
			}
		}()
		for it := range items {
			if !yield(it.v, it.err) {
				return
			}
		}
	}
}

// existing reports which writes' users already have a record.
// A record the phone pass reached first (an extension only) does not count:
// a user exists once a user row or event gave it a status.
func (p *Puller) existing(ctx context.Context, ws []Write) (existed, changed []bool, err error) {
	cmds := make([]*redis.SliceCmd, len(ws))
	_, err = p.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, w := range ws {
			fields := make([]string, 0, len(w.Fields)+1)
			fields = append(fields, FieldUserStatus)
			for _, f := range w.Fields {
				fields = append(fields, f.Name)
			}
			cmds[i] = pl.HMGet(ctx, p.store.keys.user(w.Account, w.UserKey), fields...)
		}
		return nil
	})
	if err != nil {
		return nil, nil, unavailable("zsync.Puller.existing", err)
	}
	existed, changed = make([]bool, len(ws)), make([]bool, len(ws))
	for i, c := range cmds {
		vals := c.Val()
		existed[i] = len(vals) > 0 && vals[0] != nil
		for j, f := range ws[i].Fields {
			if cur, _ := vals[j+1].(string); cur != f.Value {
				changed[i] = true
				break
			}
		}
	}
	return existed, changed, nil
}

// LastCompletePull returns when the account's last complete pull ended,
// zero if none has.
func LastCompletePull(ctx context.Context, rdb redis.UniversalClient, account string) (time.Time, error) {
	v, err := rdb.Get(ctx, pullCompleteKey(account)).Result()
	if err == redis.Nil {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, unavailable("zsync.LastCompletePull", err)
	}
	ms, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(ms), nil
}

// pullExtensions records every Zoom Phone user's extension (what
// lookups by extension read). An account without Zoom Phone, or an app
// without the phone scope, answers an error: the users pull stands, and the
// gap is logged, not fatal.
func (p *Puller) pullExtensions(ctx context.Context, account string) {
	v := PullVersion(p.clock.Now())
	var writes []Write
	flush := func() error {
		if len(writes) == 0 {
			return nil
		}
		_, err := p.store.ApplyBatch(ctx, writes)
		writes = writes[:0]
		return err
	}
	n := 0
	for pu, err := range p.client.Phone.All(ctx) {
		if err != nil {
			p.logger.Warn("phone users not pulled: lookups by extension use what is stored", slog.String("account_id", account),
				slog.String("error", err.Error()))
			return
		}
		if pu.ID == "" || pu.ExtensionNumber == "" {
			continue
		}
		writes = append(writes, Write{Account: account, UserKey: pu.ID, Fields: []FieldWrite{{Name: FieldExtension, Version: v, Value: string(pu.ExtensionNumber)}}})
		n++
		if len(writes) == 500 {
			if err := flush(); err != nil {
				p.logger.Warn("phone extensions not stored", slog.String("error", err.Error()))
				return
			}
		}
	}
	if err := flush(); err != nil {
		p.logger.Warn("phone extensions not stored", slog.String("error", err.Error()))
		return
	}
	p.logger.Info("phone extensions pulled", slog.String("account_id", account), slog.Int("phone_users", n))
}
