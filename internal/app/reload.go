package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/config"
	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// accountsPoll is how often serve looks at the accounts file's content.
// Kubernetes updates a mounted Secret by swapping the volume's ..data
// symlink to a new directory, so the file's own inode and mtime never
// change; its content, read through the links, does. Polling the content
// hash sees that and every other way of changing the file, costs one small
// read, and needs no file-system notification library (inotify watches
// would have to follow the symlink swap by hand).
const accountsPoll = 10 * time.Second

// liveAccounts is every account's current secrets and name; a reload
// replaces the whole map at once. It is the webhook handler's Accounts.
type liveAccounts struct {
	cur atomic.Pointer[map[string]config.Account]
}

func newLiveAccounts(accounts []config.Account) *liveAccounts {
	l := &liveAccounts{}
	m := make(map[string]config.Account, len(accounts))
	for _, a := range accounts {
		m[a.ID] = a
	}
	l.cur.Store(&m)
	return l
}

func (l *liveAccounts) snapshot() map[string]config.Account { return *l.cur.Load() }

// WebhookSecret implements webhook.Accounts.
func (l *liveAccounts) WebhookSecret(id string) (secret.Secret, bool) {
	a, ok := l.snapshot()[id]
	return a.WebhookSecret, ok
}

// WebhookSecrets implements webhook.RotatingAccounts: both from one
// snapshot, so a reload never pairs an old current with a new next.
func (l *liveAccounts) WebhookSecrets(id string) (current, next secret.Secret, ok bool) {
	a, ok := l.snapshot()[id]
	return a.WebhookSecret, a.WebhookNext, ok
}

// reloader applies a changed accounts file to a running serve. What it
// changes while running: each account's webhook secrets (current and
// next), OAuth client id and secret, and name. An added or removed
// account, or any other field, takes effect at the next restart: an
// account's inbox consumers, presence sweeper, readiness and mapping are
// started with the process; the reload says so in one line.
type reloader struct {
	path    string                           // ZOOMSYNC_ACCOUNTS_FILE; "" when accounts come from the environment only
	read    func() ([]config.Account, error) // Load's checks (config.Zoom.ReloadAccounts)
	live    *liveAccounts
	clients map[string]*zoomapi.Client
	clock   clockwork.Clock
	log     *slog.Logger
	every   time.Duration
	seen    string // fingerprint of the content last looked at
}

// run reloads on every value of hup (SIGHUP) and whenever the file's
// content changes, until ctx ends.
func (r *reloader) run(ctx context.Context, hup <-chan struct{}) {
	var poll <-chan time.Time
	if r.path != "" {
		// A change between start-up's read and now is applied (quietly
		// when nothing differs).
		r.seen = r.fingerprint()
		r.reload(ctx, "start", false)
		// The ticker starts after that reload, so a test's clock sees it
		// only once the start's look is over (a file changed during it is
		// the first poll's: its fingerprint was taken before).
		t := r.clock.NewTicker(r.every)
		defer t.Stop()
		poll = t.Chan()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if r.path == "" {
				r.log.Warn("SIGHUP: nothing to reload: the accounts come from ZOOM_* variables, which a running process cannot read again; restart it to change them")
				continue
			}
			r.seen = r.fingerprint()
			r.reload(ctx, "SIGHUP", true)
		case <-poll:
			if fp := r.fingerprint(); fp != r.seen {
				r.seen = fp
				r.reload(ctx, "the accounts file changed", true)
			}
		}
	}
}

// fingerprint identifies the file's content (or why it cannot be read),
// following symlinks.
func (r *reloader) fingerprint() string {
	b, err := os.ReadFile(r.path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// reload reads the accounts again and applies what may change while
// running. A file that fails Load's checks changes nothing and is logged
// in one line (the error names the entry and the field, never a value).
// say: log a line even when nothing changed.
func (r *reloader) reload(ctx context.Context, cause string, say bool) {
	accounts, err := r.read()
	if err != nil {
		r.log.Error("accounts file not reloaded; the accounts in use stay as they were",
			slog.String("cause", cause), slog.String("error", err.Error()))
		return
	}
	old := r.live.snapshot()
	next := make(map[string]config.Account, len(old))
	for id, a := range old {
		next[id] = a
	}
	var applied, atRestart []string
	listed := map[string]bool{}
	for _, a := range accounts {
		listed[a.ID] = true
		cur, had := old[a.ID]
		if !had {
			atRestart = append(atRestart, a.ID+" added")
			continue
		}
		upd := cur
		if a.WebhookSecret != cur.WebhookSecret || a.WebhookNext != cur.WebhookNext {
			upd.WebhookSecret, upd.WebhookNext = a.WebhookSecret, a.WebhookNext
			applied = append(applied, a.ID+" webhook secrets")
		}
		if a.ClientID != cur.ClientID || a.ClientSecret != cur.ClientSecret {
			if c := r.clients[a.ID]; c != nil {
				if err := c.SetCredentials(ctx, a.Credentials()); err != nil {
					r.log.Error("accounts file: could not use an account's new OAuth credentials; it keeps the old ones",
						slog.String("account_id", a.ID), slog.String("error", err.Error()))
				} else {
					upd.ClientID, upd.ClientSecret = a.ClientID, a.ClientSecret
					applied = append(applied, a.ID+" OAuth credentials")
				}
			}
		}
		if a.Name != cur.Name {
			upd.Name = a.Name
			applied = append(applied, a.ID+" name")
		}
		if !reflect.DeepEqual(withoutReloadable(a), withoutReloadable(cur)) {
			atRestart = append(atRestart, a.ID+" settings other than secrets, credentials and name")
		}
		next[a.ID] = upd
	}
	for id := range old {
		if !listed[id] {
			atRestart = append(atRestart, id+" removed")
		}
	}
	slices.Sort(atRestart)
	r.live.cur.Store(&next)
	switch {
	case len(applied) > 0:
		r.log.Info("accounts file reloaded", slog.String("cause", cause), slog.Any("changed", applied))
	case say && len(atRestart) == 0:
		r.log.Info("accounts file read again: nothing changed", slog.String("cause", cause))
	}
	if len(atRestart) > 0 {
		r.log.Warn("accounts file: some changes take effect only when zoomsync restarts (adding or removing an account, or settings other than webhook secrets, OAuth credentials and name); until then the accounts run as before",
			slog.String("cause", cause), slog.Any("at_restart", atRestart))
	}
}

// withoutReloadable is a with the fields a reload applies cleared, so
// that what remains must be unchanged.
func withoutReloadable(a config.Account) config.Account {
	a.WebhookSecret, a.WebhookNext, a.ClientID, a.ClientSecret, a.Name = secret.Secret{}, secret.Secret{}, "", secret.Secret{}, ""
	return a
}
