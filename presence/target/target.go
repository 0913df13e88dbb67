package target

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/presence"
)

// Push is one status change for one user, as a target receives it.
type Push struct {
	Target       string
	AccountID    string
	ZoomUserID   string
	Email        string
	Directory    *Directory // nil when the user is not linked
	Status       presence.Status
	Previous     presence.Status
	TargetStatus string // the status_map value
	Since        time.Time
	Seq          int64

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

// Target receives pushes. Push returns nil once the target accepted the
// change, ErrSkip when the target decides not to take it (it is settled
// without a push), or an error whose kind decides the retry (a
// RateLimited error's RetryAt is honoured).
type Target interface {
	Push(ctx context.Context, p Push) error
}

// ErrSkip settles a change without pushing it.
var ErrSkip = errors.New("target: change skipped")

// configured is a Target with the common settings of its Config.
type configured struct {
	Config
	Target
}

// decide applies the status map and the filters: the target status, or
// false when the change is not for this target.
func (c *configured) decide(p *Push) (string, bool) {
	v, ok := c.StatusMap[string(p.Status)]
	if !ok {
		return "", false // "no sync": the target keeps what it had
	}
	f := c.Filter
	if len(f.Accounts) > 0 && !slices.Contains(f.Accounts, p.AccountID) {
		return "", false
	}
	if f.MatchedOnly && p.Directory == nil {
		return "", false
	}
	if len(f.Groups) > 0 && !slices.ContainsFunc(p.GroupIDs, func(g string) bool { return slices.Contains(f.Groups, g) }) {
		return "", false
	}
	return v, true
}

// retryAt is when to try a failed push again.
func retryAt(now time.Time, attempts int, err error, jitter func(time.Duration) time.Duration) time.Time {
	if t := errs.RetryAt(err); !t.IsZero() && t.After(now) {
		return t
	}
	// 0.2 s doubling to a 5 s cap, jittered over its upper half: a target
	// back from an outage gets every user's latest status within seconds.
	backoff := min(200*time.Millisecond<<min(attempts, 5), 5*time.Second)
	return now.Add(backoff/2 + jitter(backoff/2))
}
