package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/zoomsync/zoomsync/graphapi"
	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/fnv1a"
	"github.com/zoomsync/zoomsync/presence"
)

// TypeTeams is Microsoft Teams presence through Microsoft Graph.
const TypeTeams = "teams"

func init() {
	Register(Type{Name: TypeTeams, Decode: decodeTeamsSettings, New: newTeamsDriver, DefaultStatusMap: TeamsDefaultStatusMap,
		// Unmapped statuses come as clears (the driver knows what it
		// pushed); a pushed state expires in Teams (expiration, default
		// 1h), so it is posted again at 3/4 of it while it lasts. No
		// default rate: the driver keeps Graph's budget per app and
		// tenant itself, shared by the replicas. A change keeps being
		// retried through a Graph outage of up to 4 hours (a pushed state
		// lasts at most that long in Teams anyway), so the final state of
		// every user lands when Graph is back.
		Traits: Traits{ClearUnmapped: true, Expiry: time.Hour}, DeadAfter: 4 * time.Hour})
}

// TeamsSettings are a teams target's own fields.
type TeamsSettings struct {
	TenantID string `json:"tenant_id"`
	ClientID string `json:"client_id"`
	// ClientSecretFile holds the app's client secret (read at every token
	// fetch: a rotated secret is used without a restart); or
	// CertificateFile, a PEM file with the certificate uploaded to the app
	// registration and its RSA private key.
	ClientSecretFile string `json:"client_secret_file"`
	CertificateFile  string `json:"certificate_file"`
	// GraphURL and LoginURL: national clouds (and tests); defaults are the
	// global cloud's.
	GraphURL string `json:"graph_url"`
	LoginURL string `json:"login_url"`
	// Mode: "session" (default) sets the app's own presence session with
	// setPresence, which Teams aggregates with the user's own clients;
	// "preferred" sets the user's preferred presence, which overrides
	// what the user picks in Teams (intrusive; opt in knowingly).
	Mode string `json:"mode"`
	// Expiration of each pushed state (PT5M–PT4H; default 1h): a state
	// still current is posted again before it ends (keepalive); one that
	// nothing clears (zoomsync stopped) is gone from Teams by then.
	Expiration Duration `json:"expiration"`
	// ResolveBy: how a Zoom user is found in Entra ID, in order:
	// immutable_id (onPremisesImmutableId from the linked Active Directory
	// entry's objectGUID), upn (the Zoom email as userPrincipalName), mail.
	ResolveBy []string `json:"resolve_by"`
	// PresenceLimit: presence calls per 30 s for this app in this tenant,
	// shared by every replica (default and most: Graph's 1,500).
	PresenceLimit int `json:"presence_limit"`
	// UnresolvedRetry: a user who could not be found is looked up again
	// after this long, or at once when the link or email changes (default
	// 24h).
	UnresolvedRetry Duration `json:"unresolved_retry"`

	statusMap map[string]string // checked, the mode's default when absent
}

// Teams modes and resolution steps.
const (
	TeamsModeSession   = "session"
	TeamsModePreferred = "preferred"

	ResolveImmutableID = "immutable_id"
	ResolveUPN         = "upn"
	ResolveMail        = "mail"
)

// TeamsDefaultStatusMap is what a teams target pushes when its
// status_map is absent: the states a Zoom call or meeting puts a person
// in. Statuses Teams derives itself (in_calendar_event from the
// calendar, out_of_office from automatic replies) are not pushed, nor is
// available (Teams shows the user's own state when the app's session is
// cleared).
var TeamsDefaultStatusMap = map[string]string{
	string(presence.OnCall):     "Busy/InACall",
	string(presence.InMeeting):  "Busy/InAConferenceCall",
	string(presence.Presenting): "DoNotDisturb/Presenting",
	string(presence.Busy):       "Busy/InACall",
}

// TeamsPreferredStatusMap is the default in preferred mode (the pairs
// setUserPreferredPresence takes).
var TeamsPreferredStatusMap = map[string]string{
	string(presence.OnCall):     "Busy/Busy",
	string(presence.InMeeting):  "Busy/Busy",
	string(presence.Presenting): "DoNotDisturb/DoNotDisturb",
	string(presence.Busy):       "Busy/Busy",
}

// Expiry is how long a pushed state lasts in Teams: the sender posts it
// again at 3/4 of it while it lasts (unless keepalive is set).
func (s *TeamsSettings) Expiry() time.Duration { return s.Expiration.Duration }

// Endpoint names the tenant and app (no credential).
func (s *TeamsSettings) Endpoint() string {
	g := s.GraphURL
	if g == "" {
		g = graphapi.DefaultGraphURL
	}
	return fmt.Sprintf("%s tenant %s app %s", RedactURL(g), s.TenantID, s.ClientID)
}

// decodeTeams reads and checks a teams target's own fields and its
// status_map (every value a pair the mode takes).
func decodeTeams(raw json.RawMessage) (*TeamsSettings, map[string]string, error) {
	var s TeamsSettings
	var m struct {
		StatusMap    map[string]string `json:"status_map"`
		ClientSecret json.RawMessage   `json:"client_secret"`
		KeepAlive    Duration          `json:"keepalive"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, fmt.Errorf("%v", err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("%v", err)
	}
	switch {
	case len(m.ClientSecret) > 0:
		return nil, nil, errors.New("client_secret: give the secret as a file (client_secret_file), not in the targets file")
	case s.TenantID == "" || strings.ContainsAny(s.TenantID, "/?#% "):
		return nil, nil, errors.New("tenant_id is required (the directory (tenant) id or its domain)")
	case s.ClientID == "":
		return nil, nil, errors.New("client_id is required (the app registration's Application (client) id)")
	case (s.ClientSecretFile == "") == (s.CertificateFile == ""):
		return nil, nil, errors.New("give exactly one of client_secret_file and certificate_file")
	}
	if s.CertificateFile != "" {
		if _, err := graphapi.LoadCertificate(s.CertificateFile); err != nil {
			return nil, nil, fmt.Errorf("certificate_file: %v", err)
		}
	}
	if s.ClientSecretFile != "" {
		if _, err := graphapi.SecretFile(s.ClientSecretFile)(); err != nil {
			return nil, nil, fmt.Errorf("client_secret_file: %v", err)
		}
	}
	for _, u := range []struct{ name, v string }{{"graph_url", s.GraphURL}, {"login_url", s.LoginURL}} {
		if u.v != "" && !validBaseURL(u.v) {
			return nil, nil, fmt.Errorf("%s %q: want https://host[/path]", u.name, RedactURL(u.v))
		}
	}
	if s.Mode == "" {
		s.Mode = TeamsModeSession
	}
	pairs, defaults := graphapi.SessionPairs, TeamsDefaultStatusMap
	switch s.Mode {
	case TeamsModeSession:
	case TeamsModePreferred:
		pairs, defaults = graphapi.PreferredPairs, TeamsPreferredStatusMap
	default:
		return nil, nil, fmt.Errorf("mode %q: want %s or %s", s.Mode, TeamsModeSession, TeamsModePreferred)
	}
	if s.Expiration.Duration == 0 {
		s.Expiration.Duration = time.Hour
	}
	if e := s.Expiration.Duration; e < graphapi.MinExpiration || e > graphapi.MaxExpiration {
		return nil, nil, fmt.Errorf("expiration %s: want 5m to 4h (Graph's PT5M–PT4H)", e)
	}
	// keepalive defaults to 3/4 of expiration (Expiry); one given must
	// come before the state ends.
	if keepAlive := m.KeepAlive.Duration; keepAlive >= s.Expiration.Duration {
		return nil, nil, fmt.Errorf("keepalive %s must be shorter than expiration %s: a state still current is posted again before Teams drops it (set keepalive to about 3/4 of expiration)",
			m.KeepAlive.Duration, s.Expiration.Duration)
	}
	if len(s.ResolveBy) == 0 {
		s.ResolveBy = []string{ResolveImmutableID, ResolveUPN, ResolveMail}
	}
	for _, r := range s.ResolveBy {
		if r != ResolveImmutableID && r != ResolveUPN && r != ResolveMail {
			return nil, nil, fmt.Errorf("resolve_by %q: want %s, %s or %s", r, ResolveImmutableID, ResolveUPN, ResolveMail)
		}
	}
	if s.PresenceLimit < 0 || s.PresenceLimit > graphapi.PresenceLimit {
		return nil, nil, fmt.Errorf("presence_limit %d: want 1 to %d calls per 30 s (Graph's limit per app and tenant)", s.PresenceLimit, graphapi.PresenceLimit)
	}
	if s.PresenceLimit == 0 {
		s.PresenceLimit = graphapi.PresenceLimit
	}
	if s.UnresolvedRetry.Duration < 0 {
		return nil, nil, errors.New("unresolved_retry must be ≥ 0")
	}
	if s.UnresolvedRetry.Duration == 0 {
		s.UnresolvedRetry.Duration = 24 * time.Hour
	}
	statusMap := m.StatusMap
	if len(statusMap) == 0 {
		statusMap = defaults
	}
	for k, v := range statusMap {
		p, ok := graphapi.ParsePair(v)
		if !ok || !slices.Contains(pairs, p) {
			return nil, nil, fmt.Errorf("status_map %s: %q is not a pair %s mode takes (%v)", k, v, s.Mode, pairs)
		}
		if s.Mode == TeamsModeSession && p == (graphapi.Pair{Availability: "Available", Activity: "Available"}) {
			// An app's Available fades to Away after 5 minutes unless it is
			// posted again: kept up for everyone, that is 100,000 users
			// every 4 minutes, far past Graph's limit. Teams shows the
			// user's own state when the session is cleared.
			return nil, nil, fmt.Errorf("status_map %s: Available/Available is not pushed by a session (it fades after 5 minutes); leave %s out and the user's own Teams state shows", k, k)
		}
	}
	s.statusMap = statusMap
	return &s, statusMap, nil
}

// decodeTeamsSettings is the type's Decode.
func decodeTeamsSettings(raw json.RawMessage) (Settings, error) {
	s, _, err := decodeTeams(raw)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newTeamsDriver is the type's New.
func newTeamsDriver(c Config, deps Deps) (Driver, error) {
	s, ok := c.Settings.(*TeamsSettings)
	if !ok {
		return nil, fmt.Errorf("target %q: not a checked teams configuration", c.Name)
	}
	hc := deps.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: c.Timeout.Duration}
	}
	td := teamsDeps{HTTP: hc, Redis: deps.Redis, Clock: deps.Clock, Logger: deps.Logger}
	if f := deps.OnAuthFailure; f != nil {
		td.OnAuth = func(error) { f(c.Name) }
	}
	return newTeams(c.Name, s, s.statusMap, td)
}

func validBaseURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != "" && p.User == nil && p.RawQuery == ""
}

// teams pushes presence to Microsoft Teams through Microsoft Graph.
//
// Per user it keeps, in Redis, what it pushed (the pair and when it
// expires) and who the user is in Entra ID (the object id, with a digest
// of what it was resolved from). A pushed state is cleared with
// clearPresence when the user's status leaves the map (the user's own
// Teams state shows again); the state is written before the call, so a
// crash between the two still clears it. Nothing is pushed for a user
// with no pushed state and an unmapped status: 100,000 people do not cost
// a call each when they become available.
type teams struct {
	name      string
	settings  *TeamsSettings
	statusMap map[string]string
	client    *graphapi.Client
	rdb       redis.UniversalClient
	clock     clockwork.Clock
	logger    *slog.Logger
	onAuth    func(error)
}

// teamsDeps are what a teams driver is built with.
type teamsDeps struct {
	HTTP   *http.Client
	Redis  redis.UniversalClient
	Clock  clockwork.Clock
	Logger *slog.Logger
	// OnAuth is told of every credential or consent failure (an alert).
	OnAuth func(error)
	// Budget replaces the Redis-shared presence budget (tests).
	Budget graphapi.Budget
}

func newTeams(name string, s *TeamsSettings, statusMap map[string]string, d teamsDeps) (*teams, error) {
	if d.Redis == nil {
		return nil, errs.Errorf("target.teams", errs.Invalid, "target %q: a teams target keeps its sessions in Redis", name)
	}
	if d.Clock == nil {
		d.Clock = clockwork.NewRealClock()
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	creds := graphapi.Credentials{TenantID: s.TenantID, ClientID: s.ClientID}
	if s.CertificateFile != "" {
		c, err := graphapi.LoadCertificate(s.CertificateFile)
		if err != nil {
			return nil, errs.Errorf("target.teams", errs.Invalid, "target %q: certificate_file: %v", name, err)
		}
		creds.Certificate = c
	} else {
		creds.Secret = graphapi.SecretFile(s.ClientSecretFile)
	}
	budget := d.Budget
	if budget == nil {
		budget = graphapi.NewRedisBudget(d.Redis, d.Clock, strings.ToLower(s.TenantID+"/"+s.ClientID), s.PresenceLimit, graphapi.PresenceWindow)
	}
	opts := []graphapi.Option{graphapi.WithClock(d.Clock), graphapi.WithLogger(d.Logger), graphapi.WithBudget(budget)}
	if s.GraphURL != "" {
		opts = append(opts, graphapi.WithGraphURL(s.GraphURL))
	}
	if s.LoginURL != "" {
		opts = append(opts, graphapi.WithLoginURL(s.LoginURL))
	}
	if d.HTTP != nil {
		opts = append(opts, graphapi.WithHTTPClient(d.HTTP))
	}
	c, err := graphapi.New(creds, opts...)
	if err != nil {
		return nil, err
	}
	return &teams{name: name, settings: s, statusMap: statusMap, client: c, rdb: d.Redis, clock: d.Clock, logger: d.Logger, onAuth: d.OnAuth}, nil
}

// MaxBatch is Graph's $batch size.
func (t *teams) MaxBatch() int { return graphapi.MaxBatch }

// Push pushes one change.
func (t *teams) Push(ctx context.Context, p Push) error { return t.PushBatch(ctx, []Push{p})[0] }

// teamsState is what the driver keeps per user (one Redis hash).
type teamsState struct {
	GraphID    string    // Entra object id; "" unknown
	Inputs     string    // digest of what GraphID was resolved from
	Unresolved time.Time // when a lookup last found nobody (zero: not)
	Reason     string    // why (unresolved)
	Pair       string    // pushed "Availability/Activity"; "" none
	Expires    time.Time // when the pushed state ends in Teams
}

const (
	fGraphID    = "gid"
	fInputs     = "in"
	fUnresolved = "unres"
	fReason     = "why"
	fPair       = "pair"
	fExpires    = "exp"
)

// stateKey is one user's state for this target.
func (t *teams) stateKey(p *Push) string {
	return "zs:teams:" + t.name + ":" + p.AccountID + ":" + p.ZoomUserID
}

// stateTTL bounds the state of users nobody pushes any more.
const stateTTL = 30 * 24 * time.Hour

func (t *teams) load(ctx context.Context, ps []Push) ([]teamsState, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ps))
	_, err := t.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i := range ps {
			cmds[i] = pl.HGetAll(ctx, t.stateKey(&ps[i]))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, errs.E("target.teams", errs.Unavailable, err)
	}
	out := make([]teamsState, len(ps))
	for i, c := range cmds {
		m := c.Val()
		ms := func(f string) time.Time {
			n, _ := strconv.ParseInt(m[f], 10, 64)
			if n == 0 {
				return time.Time{}
			}
			return time.UnixMilli(n)
		}
		out[i] = teamsState{GraphID: m[fGraphID], Inputs: m[fInputs], Unresolved: ms(fUnresolved), Reason: m[fReason],
			Pair: m[fPair], Expires: ms(fExpires)}
	}
	return out, nil
}

// write sets fields of users' states (values "" delete the field).
func (t *teams) write(ctx context.Context, keys []string, fields []map[string]string) error {
	_, err := t.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, k := range keys {
			var set []any
			var del []string
			for f, v := range fields[i] {
				if v == "" {
					del = append(del, f)
				} else {
					set = append(set, f, v)
				}
			}
			if len(set) > 0 {
				pl.HSet(ctx, k, set...)
			}
			if len(del) > 0 {
				pl.HDel(ctx, k, del...)
			}
			pl.PExpire(ctx, k, stateTTL)
		}
		return nil
	})
	if err != nil {
		return errs.E("target.teams", errs.Unavailable, err)
	}
	return nil
}

// inputsOf is the digest of what a user's Entra id is resolved from: the
// linked entry's id and the Zoom email. When either changes, the user is
// resolved again.
func inputsOf(p *Push) string {
	h := fnv1a.New64()
	if p.Directory != nil {
		h = h.Add(p.Directory.ID)
	}
	h = h.AddByte(0).Add(strings.ToLower(p.Email))
	return strconv.FormatUint(h.Sum(), 36)
}

// clearing reports whether a push asks to clear the user's pushed state
// (its status is not in the map).
func (t *teams) clearing(p *Push) bool {
	_, mapped := t.statusMap[string(p.Status)]
	return p.Clear || !mapped
}

// PushBatch pushes several users' changes: users' Entra ids resolved
// (cached), then one Graph call per user, sent in $batch requests.
func (t *teams) PushBatch(ctx context.Context, ps []Push) []error {
	out := make([]error, len(ps))
	fail := func(err error) []error {
		for i := range out {
			out[i] = err
		}
		return out
	}
	states, err := t.load(ctx, ps)
	if err != nil {
		return fail(err)
	}
	now := t.clock.Now()
	// What each push needs: a clear of what was pushed, or a set.
	needID := []int{}
	for i := range ps {
		p, st := &ps[i], &states[i]
		if t.clearing(p) {
			switch {
			case st.Pair == "" || st.GraphID == "":
				out[i] = fmt.Errorf("%w: nothing was pushed for %s to clear", ErrSkip, p.Status)
			case !now.Before(st.Expires):
				out[i] = fmt.Errorf("%w: the pushed %s had expired in Teams", ErrSkip, st.Pair)
				_ = t.write(ctx, []string{t.stateKey(p)}, []map[string]string{{fPair: "", fExpires: ""}})
			}
			continue
		}
		if st.GraphID != "" && st.Inputs == inputsOf(p) {
			continue
		}
		if !st.Unresolved.IsZero() && st.Inputs == inputsOf(p) && now.Sub(st.Unresolved) < t.settings.UnresolvedRetry.Duration {
			out[i] = fmt.Errorf("%w: not found in Microsoft Entra ID at %s (%s); looked up again after %s or when the link or email changes",
				ErrSkip, st.Unresolved.UTC().Format(time.RFC3339), st.Reason, t.settings.UnresolvedRetry.Duration)
			continue
		}
		needID = append(needID, i)
	}
	if len(needID) > 0 {
		t.resolve(ctx, ps, states, needID, out)
	}
	// The calls: the state is written first, so a crash after the call
	// still knows there is something to clear.
	var calls []*graphapi.Call
	var callOf []int
	var keys []string
	var intents []map[string]string
	for i := range ps {
		if out[i] != nil {
			continue
		}
		p, st := &ps[i], &states[i]
		var call *graphapi.Call
		if t.clearing(p) {
			call = t.clearCall(st.GraphID)
		} else {
			// The driver's own map: in preferred mode its default pairs
			// differ from the session defaults the sender was given.
			pair, _ := graphapi.ParsePair(t.statusMap[string(p.Status)])
			c, err := t.setCall(st.GraphID, pair)
			if err != nil {
				out[i] = err
				continue
			}
			call = c
			keys = append(keys, t.stateKey(p))
			intents = append(intents, map[string]string{fPair: pair.String(),
				fExpires: strconv.FormatInt(now.Add(t.settings.Expiration.Duration).UnixMilli(), 10)})
		}
		calls, callOf = append(calls, call), append(callOf, i)
	}
	if len(keys) > 0 {
		if err := t.write(ctx, keys, intents); err != nil {
			for _, i := range callOf {
				out[i] = err
			}
			return out
		}
	}
	if len(calls) == 0 {
		return out
	}
	res := t.client.DoBatch(ctx, calls)
	var doneKeys []string
	var done []map[string]string
	for k, err := range res {
		i := callOf[k]
		p := &ps[i]
		switch {
		case err == nil && t.clearing(p):
			doneKeys, done = append(doneKeys, t.stateKey(p)), append(done, map[string]string{fPair: "", fExpires: ""})
		case err == nil:
		case errs.Is(errs.NotFound, err):
			// The Entra user is gone (deleted, or recreated with another
			// id): forget the id, so the next change resolves it afresh.
			doneKeys, done = append(doneKeys, t.stateKey(p)), append(done, map[string]string{fGraphID: "", fPair: "", fExpires: ""})
			out[i] = errs.E("target.teams", errs.Invalid, fmt.Errorf("the Entra user %s no longer exists: %w", states[i].GraphID, err))
		default:
			out[i] = t.classify(err)
		}
	}
	if len(doneKeys) > 0 {
		_ = t.write(ctx, doneKeys, done) // a lost clear mark costs one needless clear later (404: done)
	}
	return out
}

func (t *teams) setCall(gid string, pair graphapi.Pair) (*graphapi.Call, error) {
	if t.settings.Mode == TeamsModePreferred {
		return t.client.SetPreferredPresenceCall(gid, pair, t.settings.Expiration.Duration)
	}
	return t.client.SetPresenceCall(gid, pair, t.settings.Expiration.Duration)
}

func (t *teams) clearCall(gid string) *graphapi.Call {
	if t.settings.Mode == TeamsModePreferred {
		return t.client.ClearPreferredPresenceCall(gid)
	}
	return t.client.ClearPresenceCall(gid)
}

// classify turns a Graph failure into the push's error: credential and
// consent failures are reported (OnAuth) with what to fix; a context
// that ended before Graph answered is a transient failure, never a dead
// letter.
func (t *teams) classify(err error) error {
	switch {
	case errs.Is(errs.Auth, err):
		if t.onAuth != nil {
			t.onAuth(err)
		}
		return errs.E("target.teams", errs.Auth, fmt.Errorf("%w (check the client secret or certificate, and that an admin granted Presence.ReadWrite.All to the app)", err))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errs.E("target.teams", errs.Transient, err)
	}
	return err
}

// resolve finds the Entra object ids of ps[needID], by the configured
// steps in order, in $batch requests, and records them (or that nobody
// was found) in the users' states.
func (t *teams) resolve(ctx context.Context, ps []Push, states []teamsState, needID []int, out []error) {
	now := t.clock.Now()
	pending := needID
	tried := make(map[int][]string, len(needID))
	for _, step := range t.settings.ResolveBy {
		if len(pending) == 0 {
			break
		}
		var calls []*graphapi.Call
		var of []int
		singles := map[int]*graphapi.User{}
		lists := map[int]*graphapi.UserList{}
		for _, i := range pending {
			p := &ps[i]
			switch step {
			case ResolveImmutableID:
				if p.Directory == nil || p.Directory.ID == "" {
					continue
				}
				imm, err := graphapi.ImmutableID(p.Directory.ID)
				if err != nil {
					continue // not an Active Directory objectGUID
				}
				l := &graphapi.UserList{}
				lists[i] = l
				calls, of = append(calls, t.client.FindUsersCall(graphapi.ByImmutableID, imm, l)), append(of, i)
				tried[i] = append(tried[i], "onPremisesImmutableId "+imm)
			case ResolveUPN:
				if p.Email == "" {
					continue
				}
				u := &graphapi.User{}
				singles[i] = u
				calls, of = append(calls, t.client.UserCall(p.Email, u)), append(of, i)
				tried[i] = append(tried[i], "userPrincipalName "+p.Email)
			case ResolveMail:
				if p.Email == "" {
					continue
				}
				l := &graphapi.UserList{}
				lists[i] = l
				calls, of = append(calls, t.client.FindUsersCall(graphapi.ByMail, p.Email, l)), append(of, i)
				tried[i] = append(tried[i], "mail "+p.Email)
			}
		}
		res := t.client.DoBatch(ctx, calls)
		found := map[int]bool{}
		for k, err := range res {
			i := of[k]
			switch {
			case errs.Is(errs.NotFound, err):
			case err != nil:
				out[i] = t.classify(err)
				found[i] = true // settled: not looked up further
			case singles[i] != nil && singles[i].ID != "":
				states[i].GraphID, found[i] = singles[i].ID, true
			case lists[i] != nil && len(lists[i].Value) == 1:
				states[i].GraphID, found[i] = lists[i].Value[0].ID, true
			case lists[i] != nil && len(lists[i].Value) > 1:
				out[i] = errs.E("target.teams", errs.Invalid, fmt.Errorf("%d Entra users have %s: not guessing", len(lists[i].Value), tried[i][len(tried[i])-1]))
				found[i] = true
			}
		}
		pending = slices.DeleteFunc(pending, func(i int) bool { return found[i] })
	}
	var keys []string
	var fields []map[string]string
	for _, i := range needID {
		p := &ps[i]
		switch {
		case out[i] != nil && !errs.Is(errs.Invalid, out[i]):
			continue // a failure to ask: nothing learnt
		case states[i].GraphID != "" && out[i] == nil:
			keys = append(keys, t.stateKey(p))
			fields = append(fields, map[string]string{fGraphID: states[i].GraphID, fInputs: inputsOf(p), fUnresolved: "", fReason: ""})
		default:
			reason := "tried " + strings.Join(tried[i], ", ")
			if len(tried[i]) == 0 {
				reason = "no directory link to an Active Directory entry and no email to look up"
			}
			if out[i] != nil {
				reason = out[i].Error()
			}
			keys = append(keys, t.stateKey(p))
			fields = append(fields, map[string]string{fGraphID: "", fInputs: inputsOf(p), fReason: reason,
				fUnresolved: strconv.FormatInt(now.UnixMilli(), 10)})
			// Reported once as a dead letter with the reason; later
			// changes are skipped until unresolved_retry or a new link.
			out[i] = errs.E("target.teams", errs.Invalid, fmt.Errorf("user not found in Microsoft Entra ID: %s", reason))
		}
	}
	if len(keys) > 0 {
		if err := t.write(ctx, keys, fields); err != nil {
			for _, i := range needID {
				if out[i] == nil {
					out[i] = err
				}
			}
		}
	}
}
