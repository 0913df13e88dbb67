package target

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/zoomapi"
)

// Driver is one configured target of a type: it delivers pushes to the
// far end. Push returns nil once the far end accepted the change, ErrSkip
// when the driver decides not to send it (it is settled without a push),
// or an error whose kind decides delivery (see the package doc).
type Driver interface {
	Push(ctx context.Context, p Push) error
}

// BatchDriver is a Driver whose far end takes several users' changes in
// one call. When more than one push is due at once the sender hands it up
// to MaxBatch of them; errs[i] is the outcome of ps[i], judged like
// Push's. A nil or short answer counts as a transient failure of the
// pushes it does not cover.
type BatchDriver interface {
	Driver
	MaxBatch() int
	PushBatch(ctx context.Context, ps []Push) []error
}

// Traits are what a target type declares about its far end; the sender
// and the store act on them.
type Traits struct {
	// ReceivesDirectory: pushes carry the user's directory data, and the
	// user's current status goes out once more when that data changes (a
	// link appears, changes or goes) without a status change.
	ReceivesDirectory bool
	// RetryEveryFailure: every failure is retried until the target's
	// dead_after, whatever its kind (the webhook contract, SPEC §5: a
	// receiver's refusal may be fixed at its end in time).
	RetryEveryFailure bool
	// ClearUnmapped: a status not in the status map is pushed with Clear
	// set, for the driver to tell the far end to forget what it was given
	// (if it was given anything: the driver knows, and answers ErrSkip
	// when there is nothing to clear) instead of keeping it.
	ClearUnmapped bool
	// Expiry: the far end forgets a pushed status after this long, so it
	// is pushed again (keep-alive) at three quarters of it while it lasts,
	// unless the target's keepalive says otherwise; a type whose Settings
	// have an Expiry() method sets it per target. 0: it never forgets.
	Expiry time.Duration
	// RateLimit is the pushes per second a target of this type is sent
	// when its rate_limit is not set (0: unlimited). A budget per tenant
	// is kept by the driver itself, which answers a RateLimited error
	// with RetryAt when it is spent.
	RateLimit float64
}

// Settings are a type's own fields of a targets-file entry, as its Decode
// returned them.
type Settings interface {
	// Endpoint is where the pushes go, fit for logs and GET /v1/targets
	// (credentials redacted); "" when there is nothing to show.
	Endpoint() string
}

// Deps are what drivers are built with: each takes what it needs.
type Deps struct {
	HTTP   *http.Client               // nil: a driver makes its own, with the target's timeout
	Zoom   map[string]*zoomapi.Client // by account id
	Redis  redis.UniversalClient      // for drivers that keep state (tokens, sessions)
	Logger *slog.Logger
	Clock  clockwork.Clock
	// OnAuthFailure, if set, is told each time a target's credentials or
	// consent are refused (an alert: those pushes are dead-lettered until
	// someone fixes the secret or grants the permission).
	OnAuthFailure func(target string)
}

// Type is a target type: its name in the targets file, its traits, how
// it reads its own fields and how it builds a driver.
type Type struct {
	Name   string
	Traits Traits
	// Decode reads and checks the type's own fields of one targets-file
	// entry (the whole JSON object; the common fields are Config's).
	// Its errors name the field and never quote a secret.
	Decode func(raw json.RawMessage) (Settings, error)
	// New builds the driver of a checked target (c.Settings is what
	// Decode returned).
	New func(c Config, deps Deps) (Driver, error)
	// DeadAfter, if set, is the dead_after of a target that gives none
	// (default 1h): a far end whose outages are ridden out for longer.
	DeadAfter time.Duration
	// DefaultStatusMap, if set, is the status_map of a target that gives
	// none (the type has a documented mapping of its own).
	DefaultStatusMap map[string]string
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Type{}
)

// Register adds a target type; each type's file calls it from init. A
// name registered twice panics.
func Register(t Type) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if t.Name == "" || t.Decode == nil || t.New == nil {
		panic("target: Register needs a name, Decode and New")
	}
	if _, dup := registry[t.Name]; dup {
		panic(fmt.Sprintf("target: type %q registered twice", t.Name))
	}
	registry[t.Name] = t
}

// lookup returns the registered type called name.
func lookup(name string) (Type, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	t, ok := registry[name]
	return t, ok
}

// Types lists the registered type names, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TraitsOf returns the traits of a registered type (zero for an unknown
// one).
func TraitsOf(typeName string) Traits {
	t, _ := lookup(typeName)
	return t.Traits
}

// ReceivesDirectory reports whether a target of this type is sent the
// user's directory data (Push.Directory): such a target gets the user's
// current status once more when that data changes (a link appears,
// changes or goes) without a status change.
func ReceivesDirectory(typeName string) bool { return TraitsOf(typeName).ReceivesDirectory }

// Build returns the driver of a checked target.
func Build(c Config, deps Deps) (Driver, error) {
	t, ok := lookup(c.Type)
	if !ok {
		return nil, fmt.Errorf("target %q: unknown type %q (want one of %v)", c.Name, c.Type, Types())
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	deps.Logger = deps.Logger.With(slog.String("target", c.Name))
	return t.New(c, deps)
}

// typeNames is Types for error messages ("a, b or c").
func typeNames() string {
	names := Types()
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
