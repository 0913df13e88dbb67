package helpdesk

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/internal/secret"
	"github.com/zoomsync/zoomsync/presence/target"
	"github.com/zoomsync/zoomsync/readmodel"
	zsync "github.com/zoomsync/zoomsync/sync"
)

// Observer is told about the live streams (the process's metrics).
type Observer interface {
	// StreamsChanged: open streams on this replica, and a refusal
	// ("process" or "token" cap reached; "" for none).
	StreamsChanged(open int, refused string)
}

// Options configure the API.
type Options struct {
	Accounts []string // the Zoom accounts looked in, in order
	// Tokens are the bearer tokens (ZOOMSYNC_API_TOKENS): none refuses
	// every call. RateLimit is each token's requests per second, burst
	// twice that (ZOOMSYNC_API_RATE_LIMIT; 0: unlimited).
	Tokens    []secret.Secret
	RateLimit float64
	// StreamMax and StreamMaxPerToken cap the live streams
	// (ZOOMSYNC_STREAM_MAX_CONNECTIONS, ZOOMSYNC_STREAM_MAX_PER_TOKEN).
	StreamMax, StreamMaxPerToken int
	Limits                       Limits
	Targets                      []target.Config // GET /v1/targets
	// Mapping: a directory is configured (else the report answers 404).
	Mapping bool
	Resyncs Resyncs
	// Model is this replica's read model (nil: every lookup reads Redis):
	// lookups, GET /v1/people and the live stream read it, and fall back
	// to Redis for a key it does not hold.
	Model    *readmodel.Model
	Clock    clockwork.Clock
	Logger   *slog.Logger
	Observer Observer // nil: nobody
}

// API is the helpdesk API, the live board and its stream.
type API struct {
	lookups *lookup
	guard   *apiGuard
	live    *hub
	targets *targetsAPI
	resyncs resyncAPI
	mapping bool
}

// New returns the API over the users in store.
func New(rdb redis.UniversalClient, store *zsync.Store, opts Options) *API {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	onStreams := func(int, string) {}
	if opts.Observer != nil {
		onStreams = opts.Observer.StreamsChanged
	}
	lookups := &lookup{rdb: rdb, store: store, accounts: opts.Accounts, clock: opts.Clock, model: opts.Model}
	slots := newStreamSlots(opts.StreamMax, opts.StreamMaxPerToken, onStreams)
	return &API{
		lookups: lookups,
		guard:   newAPIGuard(opts.Tokens, opts.RateLimit),
		live:    newHub(rdb, lookups, opts.Logger, opts.Clock, slots, opts.Limits),
		targets: &targetsAPI{rdb: rdb, store: store, configs: opts.Targets, accounts: opts.Accounts, clock: opts.Clock},
		resyncs: resyncAPI{runs: opts.Resyncs},
		mapping: opts.Mapping,
	}
}

// Register adds the API's endpoints (SPEC §4, openapi.json) to mux.
func (a *API) Register(mux *http.ServeMux) {
	auth := func(h http.HandlerFunc) http.Handler { return a.guard.wrap(h) }
	l := a.lookups
	mux.Handle("GET /v1/presence", auth(l.bulk))
	mux.Handle("GET /v1/people", auth(l.people))
	mux.Handle("GET /v1/presence/stream", auth(a.live.stream))
	mux.HandleFunc("GET /board", serveBoard)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/board", http.StatusFound) })
	mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	mux.Handle("GET /v1/presence/{key}", auth(l.presence))
	mux.Handle("GET /v1/users/{key}", auth(l.user))
	mux.Handle("GET /v1/mapping/report", auth(l.report(a.mapping)))
	mux.Handle("GET /v1/presence/{key}/history", auth(l.history))
	mux.Handle("GET /v1/targets", auth(a.targets.serve))
	mux.Handle("POST /v1/resync", auth(a.resyncs.postResync))
	mux.Handle("GET /v1/resync/{run_id}", auth(a.resyncs.getResync))
}

// Run fans status changes out to this replica's live streams until ctx
// ends.
func (a *API) Run(ctx context.Context) { a.live.run(ctx) }

// WriteJSON answers v as JSON with status (the operations endpoints use
// it too).
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }
