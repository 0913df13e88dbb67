package target

import (
	"errors"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/presence"
)

// Push is one status change for one user, as a driver receives it.
type Push struct {
	Target       string
	AccountID    string
	ZoomUserID   string
	Email        string
	Directory    *Directory // nil when the user is not linked
	Status       presence.Status
	Previous     presence.Status
	TargetStatus string // the status_map value ("" when Clear)
	// Clear: the status left the map after a mapped one; the far end is
	// to drop what it was given (types with Traits.ClearUnmapped only).
	Clear bool
	Since time.Time
	Seq   int64

	GroupIDs []string
	// AgentStatusAt is when the user's contact-center status last changed
	// (zero when unknown): a target must not override a status the agent
	// set by hand after the presence change.
	AgentStatusAt time.Time
}

// Directory is the linked directory entry of a pushed user.
type Directory struct {
	// ID is the entry's stable id (entryUUID, or Active Directory's
	// objectGUID as AD shows it); drivers that look users up by it (teams)
	// read it, the webhook body does not carry it.
	ID             string `json:"-"`
	DN             string `json:"dn"`
	UID            string `json:"uid"`
	EmployeeNumber string `json:"employee_number"`
}

// ErrSkip settles a change without pushing it.
var ErrSkip = errors.New("target: change skipped")

// configured is a target ready to send: its config, its type's traits,
// its driver and its limiter.
type configured struct {
	Config
	traits    Traits
	driver    Driver
	limiter   *rate.Limiter // nil: unlimited
	keepAlive time.Duration // 0: off
}

// expirer is Settings whose far end forgets a pushed status after a time
// the target configures (overriding Traits.Expiry).
type expirer interface{ Expiry() time.Duration }

func newConfigured(c Config, traits Traits, d Driver) *configured {
	t := &configured{Config: c, traits: traits, driver: d, keepAlive: c.KeepAlive.Duration}
	expiry := traits.Expiry
	if e, ok := c.Settings.(expirer); ok && e.Expiry() > 0 {
		expiry = e.Expiry() // the target's own setting (teams: expiration)
	}
	if t.keepAlive == 0 && expiry > 0 {
		t.keepAlive = expiry * 3 / 4
	}
	if r := c.RateLimit; r > 0 || traits.RateLimit > 0 {
		if r == 0 {
			r = traits.RateLimit
		}
		t.limiter = rate.NewLimiter(rate.Limit(r), max(1, int(r)))
	}
	return t
}

// decide applies the status map and the filters: it sets the push's
// target status (or Clear), or reports that the change is not for this
// target.
func (c *configured) decide(p *Push) bool {
	f := c.Filter
	if len(f.Accounts) > 0 && !slices.Contains(f.Accounts, p.AccountID) {
		return false
	}
	if f.MatchedOnly && p.Directory == nil {
		return false
	}
	if len(f.Groups) > 0 && !slices.ContainsFunc(p.GroupIDs, func(g string) bool { return slices.Contains(f.Groups, g) }) {
		return false
	}
	v, ok := c.StatusMap[string(p.Status)]
	if ok {
		p.TargetStatus = v
		return true
	}
	if c.traits.ClearUnmapped {
		// Every unmapped status goes to the driver, which knows what it
		// gave the far end: Previous is the status just before this one,
		// not what the target was sent, when changes were coalesced
		// (on_call pushed, then available and away while the target was
		// busy: Previous is available, and on_call must still be cleared).
		p.Clear = true
		return true
	}
	return false // "no sync": the target keeps what it had
}

// deadNow reports whether a failed push is given up at once: an error
// that asking again cannot fix (permanent, auth, invalid, not found,
// unclassified), unless the type retries every failure.
func (c *configured) deadNow(err error) bool {
	return !c.traits.RetryEveryFailure && !errs.Retryable(err)
}

// retryAt is when to try a failed push again: a rate-limited error's
// RetryAt, else an exponential backoff by attempt — 0.2 s doubling to a
// 5 s cap, ±50 % jitter — so a target back from an outage gets every
// user's latest status within seconds.
func retryAt(now time.Time, attempts int, err error) time.Time {
	if t := errs.RetryAt(err); !t.IsZero() && t.After(now) {
		return t
	}
	b := &backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: 5 * time.Second}
	var d time.Duration
	for range min(attempts, 6) + 1 { // the cap is reached by the sixth
		d = b.NextBackOff()
	}
	return now.Add(d)
}
