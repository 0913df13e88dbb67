package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

// Accounts resolves an account id to its webhook secret token.
type Accounts interface {
	WebhookSecret(accountID string) (secret.Secret, bool)
}

// RotatingAccounts is implemented by Accounts whose accounts may carry a
// second secret token while it is being rotated. A delivery verifies with
// either; endpoint.url_validation is answered with the one that verified
// its signature, which is the one Zoom holds.
type RotatingAccounts interface {
	Accounts
	// WebhookSecrets returns the account's current secret token and, during
	// a rotation, the next one (else empty), read together.
	WebhookSecrets(accountID string) (current, next secret.Secret, ok bool)
}

// Sink durably stores accepted deliveries. Enqueue returns nil only once
// the delivery will survive a crash.
type Sink interface {
	Enqueue(ctx context.Context, d Delivery) error
}

// Delivery is a verified event on its way to the inbox.
type Delivery struct {
	AccountID  string
	Event      *Event
	ReceivedAt time.Time
	RequestID  string // x-zm-request-id
	TrackingID string // x-zm-trackingid
	// Intake says how the event arrived: IntakeWebhook (also when empty)
	// or IntakeWebSocket.
	Intake string
}

// Intakes: how an event reached zoomsync (a metrics label and a field of
// the inbox entry).
const (
	IntakeWebhook   = "webhook"
	IntakeWebSocket = "websocket"
)

// Outcomes reported to HandlerOptions.OnOutcome (a metrics label).
const (
	OutcomeAccepted       = "accepted"
	OutcomeValidated      = "url_validated"
	OutcomeBadSignature   = "bad_signature"
	OutcomeMalformed      = "malformed"
	OutcomeUnknownAccount = "unknown_account"
	OutcomeTooLarge       = "too_large"
	OutcomeUnavailable    = "unavailable"
)

// Refusal reasons reported to HandlerOptions.OnRefused (a metrics
// label). Most are the error code the sender gets; the signature's are
// finer, since they point at different mistakes: a sender that does not
// sign, a clock or a replay, a wrong secret token.
const (
	RefusedMissingSignature  = "missing_signature"
	RefusedMissingTimestamp  = "missing_timestamp"
	RefusedStaleTimestamp    = "stale_timestamp"
	RefusedSignatureMismatch = "signature_mismatch"
	RefusedNoSecret          = "no_secret"
	RefusedUnknownAccount    = "unknown_account"
	RefusedMalformed         = "malformed_event"
	RefusedUnreadable        = "unreadable_body"
	RefusedTooLarge          = "body_too_large"
	RefusedUnavailable       = "unavailable"
)

// signatureRefusal is the refusal reason of a verification error.
func signatureRefusal(err error) string {
	switch {
	case errors.Is(err, ErrMissingSignature):
		return RefusedMissingSignature
	case errors.Is(err, ErrMissingTimestamp):
		return RefusedMissingTimestamp
	case errors.Is(err, ErrStaleTimestamp):
		return RefusedStaleTimestamp
	case errors.Is(err, ErrNoSecret):
		return RefusedNoSecret
	}
	return RefusedSignatureMismatch
}

// HandlerOptions configures NewHandler.
type HandlerOptions struct {
	Accounts  Accounts
	Sink      Sink
	Clock     clockwork.Clock // nil: real time
	Logger    *slog.Logger    // nil: discard
	Tolerance time.Duration   // 0: DefaultTolerance
	// EnqueueTimeout bounds the wait for the Sink (0: DefaultEnqueueTimeout).
	EnqueueTimeout time.Duration
	// OnOutcome, if set, is called once per request with the event's
	// EventLabel and one of the Outcome constants. The event is "" for
	// every outcome but accepted, url_validated and unavailable: a request
	// that failed verification never reports the name it claims, and a
	// verified one reports a name from the fixed KnownEvents or "other",
	// so labels built from it stay a fixed set whatever arrives.
	OnOutcome func(event, outcome string)
	// OnRefused, if set, is called once per request answered with an
	// error, with one of the Refused constants: why, in more detail than
	// the outcome (which of the signature checks failed, say).
	OnRefused func(reason string)
	// RefusalLogInterval and RefusalLogBurst bound the "webhook refused"
	// log lines (and the "webhook not enqueued" ones): a burst, then one
	// line per interval; each line says how many were held back since the
	// previous one. Defaults: DefaultRefusalLogInterval, DefaultRefusalLogBurst.
	RefusalLogInterval time.Duration
	RefusalLogBurst    int
}

// Defaults of the refusal log's rate: a flood of unsigned requests costs
// a handful of lines, and every refusal is still counted in the metrics.
const (
	DefaultRefusalLogInterval = 10 * time.Second
	DefaultRefusalLogBurst    = 5
)

// DefaultEnqueueTimeout is how long a delivery waits for the Sink before
// the answer is 503. Zoom counts a delivery not answered within 3 s as
// failed and retries it, so a 200 after that is worth nothing, and a
// handler stuck on a frozen Redis would hold connections for nothing.
const DefaultEnqueueTimeout = 2500 * time.Millisecond

// Handler serves POST /webhooks/zoom/{account_id} and POST /webhooks/zoom.
type Handler struct {
	opts       HandlerOptions
	refusals   *throttle // "webhook refused" lines
	unenqueued *throttle // "webhook not enqueued" lines
}

// NewHandler returns a webhook handler.
func NewHandler(opts HandlerOptions) *Handler {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.EnqueueTimeout <= 0 {
		opts.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if opts.RefusalLogInterval <= 0 {
		opts.RefusalLogInterval = DefaultRefusalLogInterval
	}
	if opts.RefusalLogBurst <= 0 {
		opts.RefusalLogBurst = DefaultRefusalLogBurst
	}
	return &Handler{opts: opts,
		refusals:   newThrottle(opts.RefusalLogInterval, opts.RefusalLogBurst),
		unenqueued: newThrottle(opts.RefusalLogInterval, opts.RefusalLogBurst)}
}

// Register mounts the handler's two routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("POST /webhooks/zoom/{account_id}", h)
	mux.Handle("POST /webhooks/zoom", h)
}

// ServeHTTP implements SPEC §4. The account comes from the {account_id}
// path value when the route has one, else from payload.account_id.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "webhooks are delivered with POST")
		return
	}
	body, err := ReadBody(r)
	if err != nil {
		if errors.Is(err, ErrBodyTooLarge) {
			h.answer(w, r, "", OutcomeTooLarge, RefusedTooLarge, http.StatusRequestEntityTooLarge, "body_too_large", "body larger than 1 MiB")
			return
		}
		h.answer(w, r, "", OutcomeMalformed, RefusedUnreadable, http.StatusBadRequest, "unreadable_body", "could not read the body")
		return
	}
	accountID := r.PathValue("account_id")
	var ev *Event
	if accountID == "" {
		// The account-less route names the account inside the body, so the
		// body must parse before the signature can be checked.
		if ev, err = Decode(body); err != nil {
			h.answer(w, r, "", OutcomeMalformed, RefusedMalformed, http.StatusBadRequest, "malformed_event", err.Error())
			return
		}
		accountID = ev.AccountID
		if accountID == "" {
			h.answer(w, r, ev.Name, OutcomeUnknownAccount, RefusedUnknownAccount, http.StatusNotFound, "unknown_account",
				"payload.account_id is missing; use /webhooks/zoom/{account_id}")
			return
		}
	}
	secrets, ok := h.secrets(accountID)
	if !ok {
		h.answer(w, r, "", OutcomeUnknownAccount, RefusedUnknownAccount, http.StatusNotFound, "unknown_account", "no such account is configured")
		return
	}
	sec, err := h.verify(r.Header, body, secrets)
	if err != nil {
		h.answer(w, r, "", OutcomeBadSignature, signatureRefusal(err), http.StatusUnauthorized, "invalid_signature", errMessage(err))
		return
	}
	if ev == nil {
		if ev, err = Decode(body); err != nil {
			h.answer(w, r, "", OutcomeMalformed, RefusedMalformed, http.StatusBadRequest, "malformed_event", err.Error())
			return
		}
	}
	if ev.Name == EventURLValidation {
		req, _ := ev.Object.(*URLValidationRequest)
		if req == nil || req.PlainToken == "" {
			h.answer(w, r, ev.Name, OutcomeMalformed, RefusedMalformed, http.StatusBadRequest, "malformed_event", "payload.plainToken is missing")
			return
		}
		h.outcome(ev.Name, OutcomeValidated)
		writeJSON(w, http.StatusOK, ValidateURL(sec.Reveal(), req.PlainToken))
		return
	}
	d := Delivery{
		AccountID:  accountID,
		Event:      ev,
		ReceivedAt: h.opts.Clock.Now(),
		RequestID:  r.Header.Get(HeaderRequestID),
		TrackingID: r.Header.Get(HeaderTrackingID),
		Intake:     IntakeWebhook,
	}
	ctx, cancel := clockwork.WithTimeout(r.Context(), h.opts.Clock, h.opts.EnqueueTimeout)
	defer cancel()
	if err := h.opts.Sink.Enqueue(ctx, d); err != nil {
		if ok, held := h.unenqueued.allow(h.opts.Clock.Now()); ok {
			h.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "webhook not enqueued; answering 503 so Zoom retries",
				slog.String("account_id", accountID), slog.String("event", EventLabel(ev.Name)), slog.String("error", err.Error()),
				slog.Int64("suppressed", held))
		}
		h.answer(w, r, ev.Name, OutcomeUnavailable, RefusedUnavailable, http.StatusServiceUnavailable, "unavailable", "the event could not be stored; retry later")
		return
	}
	h.outcome(ev.Name, OutcomeAccepted)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(acceptedBody)
}

// The answer to an accepted event, as writeJSON would encode it (every
// request answers it: encoded once).
var (
	acceptedBody    = []byte(`{"status":"accepted"}` + "\n")
	jsonContentType = []string{"application/json"}
)

// secrets are the account's secret tokens: the current one, then the next
// during a rotation.
func (h *Handler) secrets(accountID string) ([]secret.Secret, bool) {
	ra, rotating := h.opts.Accounts.(RotatingAccounts)
	if !rotating {
		cur, ok := h.opts.Accounts.WebhookSecret(accountID)
		return []secret.Secret{cur}, ok
	}
	cur, next, ok := ra.WebhookSecrets(accountID)
	if !ok {
		return nil, false
	}
	if next.IsZero() {
		return []secret.Secret{cur}, true
	}
	return []secret.Secret{cur, next}, true
}

// verify returns the secret that verifies the request, or the first
// secret's error when none does.
func (h *Handler) verify(header http.Header, body []byte, secrets []secret.Secret) (secret.Secret, error) {
	var first error
	for _, s := range secrets {
		v := Verifier{Secret: s, Clock: h.opts.Clock, Tolerance: h.opts.Tolerance}
		err := v.Verify(header, body)
		if err == nil {
			return s, nil
		}
		if first == nil {
			first = err
		}
	}
	return secret.Secret{}, first
}

// outcome reports a request's outcome with its event label: the name
// only once the request was verified (see HandlerOptions.OnOutcome).
func (h *Handler) outcome(event, outcome string) {
	if h.opts.OnOutcome == nil {
		return
	}
	switch outcome {
	case OutcomeAccepted, OutcomeValidated, OutcomeUnavailable:
		event = EventLabel(event)
	default:
		event = ""
	}
	h.opts.OnOutcome(event, outcome)
}

// maxLoggedPath bounds the request path a refusal line quotes: the path
// comes from whoever sent the request.
const maxLoggedPath = 128

func (h *Handler) answer(w http.ResponseWriter, r *http.Request, event, outcome, reason string, status int, code, msg string) {
	h.outcome(event, outcome)
	if h.opts.OnRefused != nil {
		h.opts.OnRefused(reason)
	}
	if status != http.StatusServiceUnavailable {
		if ok, held := h.refusals.allow(h.opts.Clock.Now()); ok {
			path := r.URL.Path
			if len(path) > maxLoggedPath {
				path = strings.ToValidUTF8(path[:maxLoggedPath], "") + "…"
			}
			h.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "webhook refused",
				slog.String("path", path), slog.Int("status", status), slog.String("reason", code),
				slog.String("remote", r.RemoteAddr), slog.Int64("suppressed", held))
		}
	}
	writeError(w, status, code, msg)
}

// throttle lets log lines through at a bounded rate (a token bucket on
// the handler's clock) and counts the ones it holds back.
type throttle struct {
	mu   sync.Mutex
	lim  *rate.Limiter
	held int64
}

func newThrottle(every time.Duration, burst int) *throttle {
	return &throttle{lim: rate.NewLimiter(rate.Every(every), burst)}
}

// allow reports whether a line may be written at now and, if so, how many
// were held back since the previous one.
func (t *throttle) allow(now time.Time) (bool, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.lim.AllowN(now, 1) {
		t.held++
		return false, 0
	}
	held := t.held
	t.held = 0
	return true, held
}

// errMessage is the human text of a verification error without the
// operation and kind prefix.
func errMessage(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Err != nil {
		return e.Err.Error()
	}
	return err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: msg}})
}
