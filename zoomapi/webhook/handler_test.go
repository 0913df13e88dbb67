package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/secret"
)

const (
	testAccount = "acct-1"
	testSecret  = "webhook-secret-token-xyz"
)

type accountMap map[string]string

func (m accountMap) WebhookSecret(id string) (secret.Secret, bool) {
	s, ok := m[id]
	return secret.New(s), ok
}

// memorySink is an in-memory Sink; failWith makes Enqueue fail.
type memorySink struct {
	mu       sync.Mutex
	got      []Delivery
	failWith error
	hang     bool // Enqueue waits for its context, like a frozen Redis
}

func (s *memorySink) Enqueue(ctx context.Context, d Delivery) error {
	if s.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return s.failWith
	}
	s.got = append(s.got, d)
	return nil
}

func (s *memorySink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

type bundle struct {
	clock    *clockwork.FakeClock
	sink     *memorySink
	mux      *http.ServeMux
	logs     *bytes.Buffer
	outcomes []string
	// onOutcome, if set, also sees each outcome with its event label.
	onOutcome func(event, outcome string)
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{
		clock: clockwork.NewFakeClockAt(time.Unix(1_800_000_000, 0)),
		sink:  &memorySink{},
		mux:   http.NewServeMux(),
		logs:  &bytes.Buffer{},
	}
	h := NewHandler(HandlerOptions{
		Accounts: accountMap{testAccount: testSecret},
		Sink:     b.sink,
		Clock:    b.clock,
		Logger:   slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnOutcome: func(event, outcome string) {
			b.outcomes = append(b.outcomes, outcome)
			if b.onOutcome != nil {
				b.onOutcome(event, outcome)
			}
		},
	})
	h.Register(b.mux)
	return b
}

// post sends body to path signed with sec at the bundle's clock (sec ""
// sends no signature headers).
func (b *bundle) post(path, sec string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if sec != "" {
		SignRequest(req.Header, sec, b.clock.Now(), body)
	}
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	return rec
}

func presenceBody(account string) []byte {
	return []byte(`{"event":"user.presence_status_updated","event_ts":1800000000000,"payload":{"account_id":"` + account +
		`","object":{"id":"u1","email":"a@example.com","presence_status":"In_Meeting","date_time":"2027-01-15T08:00:00Z"}}}`)
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	return body.Error.Code
}

func TestHandlerAcceptsVerifiedEventAfterEnqueue(t *testing.T) {
	for _, path := range []string{"/webhooks/zoom/" + testAccount, "/webhooks/zoom"} {
		t.Run(path, func(t *testing.T) {
			b := setup(t)
			rec := b.post(path, testSecret, presenceBody(testAccount))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if b.sink.count() != 1 {
				t.Fatalf("enqueued %d", b.sink.count())
			}
			d := b.sink.got[0]
			if d.AccountID != testAccount || d.Event.UserID() != "u1" || !d.ReceivedAt.Equal(b.clock.Now()) {
				t.Fatalf("delivery %+v", d)
			}
			if got := rec.Body.String(); got != `{"status":"accepted"}`+"\n" || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("answer %q (%s)", got, rec.Header().Get("Content-Type"))
			}
		})
	}
}

// TestReadBodyTakesContentLengthAsAHint: the body read is what arrived,
// whatever Content-Length announced (its buffer is sized by it).
func TestReadBodyTakesContentLengthAsAHint(t *testing.T) {
	body := presenceBody(testAccount)
	for _, tc := range []struct {
		name   string
		length int64
	}{
		{"exact", int64(len(body))},
		{"unknown", -1},
		{"understated", 10},
		{"zero", 0},
		{"overstated", int64(len(body)) + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(bytes.NewReader(body)))
			req.ContentLength = tc.length
			got, err := ReadBody(req)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("ReadBody = %q, %v; want the body", got, err)
			}
		})
	}
}

// TestHandlerAnswers503WhenTheSinkHangs: Zoom gives up on a delivery
// after 3 s, so a sink that does not answer within EnqueueTimeout gets a
// 503 (Zoom retries) rather than a connection held open.
func TestHandlerAnswers503WhenTheSinkHangs(t *testing.T) {
	b := setup(t)
	b.sink.hang = true
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- b.post("/webhooks/zoom/"+testAccount, testSecret, presenceBody(testAccount)) }()
	if err := b.clock.BlockUntilContext(context.Background(), 1); err != nil { // the enqueue deadline's timer
		t.Fatal(err)
	}
	b.clock.Advance(DefaultEnqueueTimeout)
	rec := <-done
	if rec.Code != http.StatusServiceUnavailable || errorCode(t, rec) != "unavailable" {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestHandlerTamperedBody(t *testing.T) {
	b := setup(t)
	body := presenceBody(testAccount)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/"+testAccount, bytes.NewReader(bytes.Replace(body, []byte("In_Meeting"), []byte("Available"), 1)))
	SignRequest(req.Header, testSecret, b.clock.Now(), body)
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || errorCode(t, rec) != "invalid_signature" || b.sink.count() != 0 {
		t.Fatalf("status %d body %s enqueued %d", rec.Code, rec.Body, b.sink.count())
	}
}

func TestHandlerWrongSecret(t *testing.T) {
	b := setup(t)
	rec := b.post("/webhooks/zoom/"+testAccount, "not-the-secret", presenceBody(testAccount))
	if rec.Code != http.StatusUnauthorized || b.sink.count() != 0 {
		t.Fatalf("status %d enqueued %d", rec.Code, b.sink.count())
	}
}

func TestHandlerStaleTimestamp(t *testing.T) {
	b := setup(t)
	body := presenceBody(testAccount)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/"+testAccount, bytes.NewReader(body))
	SignRequest(req.Header, testSecret, b.clock.Now().Add(-6*time.Minute), body)
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "timestamp") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
}

func TestHandlerFutureTimestamp(t *testing.T) {
	b := setup(t)
	body := presenceBody(testAccount)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/"+testAccount, bytes.NewReader(body))
	SignRequest(req.Header, testSecret, b.clock.Now().Add(6*time.Minute), body)
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestHandlerMissingHeaders(t *testing.T) {
	b := setup(t)
	rec := b.post("/webhooks/zoom/"+testAccount, "", presenceBody(testAccount))
	if rec.Code != http.StatusUnauthorized || b.sink.count() != 0 {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestHandlerOversizeBody(t *testing.T) {
	b := setup(t)
	// Exactly 1 MiB is accepted: pad a valid event with whitespace.
	body := presenceBody(testAccount)
	exact := append(append([]byte{}, body...), bytes.Repeat([]byte(" "), MaxBodyBytes-len(body))...)
	if rec := b.post("/webhooks/zoom/"+testAccount, testSecret, exact); rec.Code != http.StatusOK {
		t.Fatalf("1 MiB: status %d %s", rec.Code, rec.Body)
	}
	over := append(exact, ' ')
	rec := b.post("/webhooks/zoom/"+testAccount, testSecret, over)
	if rec.Code != http.StatusRequestEntityTooLarge || errorCode(t, rec) != "body_too_large" {
		t.Fatalf("1 MiB + 1: status %d", rec.Code)
	}
	// Without Content-Length (chunked) the limit still holds.
	req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/"+testAccount, io.MultiReader(bytes.NewReader(over)))
	req.ContentLength = -1
	SignRequest(req.Header, testSecret, b.clock.Now(), over)
	rec = httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d", rec.Code)
	}
	if b.sink.count() != 1 {
		t.Fatalf("enqueued %d, want 1", b.sink.count())
	}
}

func TestHandlerMalformedJSON(t *testing.T) {
	b := setup(t)
	rec := b.post("/webhooks/zoom/"+testAccount, testSecret, []byte(`{"event":"user.created",`))
	if rec.Code != http.StatusBadRequest || errorCode(t, rec) != "malformed_event" {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
}

func TestHandlerMissingEvent(t *testing.T) {
	b := setup(t)
	rec := b.post("/webhooks/zoom/"+testAccount, testSecret, []byte(`{"event_ts":1,"payload":{"account_id":"acct-1"}}`))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestHandlerUnknownAccount(t *testing.T) {
	b := setup(t)
	if rec := b.post("/webhooks/zoom/nobody", testSecret, presenceBody("nobody")); rec.Code != http.StatusNotFound || errorCode(t, rec) != "unknown_account" {
		t.Fatalf("path account: status %d", rec.Code)
	}
	if rec := b.post("/webhooks/zoom", testSecret, presenceBody("nobody")); rec.Code != http.StatusNotFound {
		t.Fatalf("payload account: status %d", rec.Code)
	}
	if rec := b.post("/webhooks/zoom", testSecret, []byte(`{"event":"user.created","payload":{}}`)); rec.Code != http.StatusNotFound {
		t.Fatalf("no account at all: status %d", rec.Code)
	}
}

func TestHandlerSinkFailureIs503(t *testing.T) {
	b := setup(t)
	b.sink.failWith = errors.New("redis: connection refused")
	rec := b.post("/webhooks/zoom/"+testAccount, testSecret, presenceBody(testAccount))
	if rec.Code != http.StatusServiceUnavailable || errorCode(t, rec) != "unavailable" {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
}

func TestHandlerUnknownEventAccepted(t *testing.T) {
	b := setup(t)
	rec := b.post("/webhooks/zoom/"+testAccount, testSecret, []byte(`{"event":"meeting.started","event_ts":1,"payload":{"account_id":"acct-1","object":{}}}`))
	if rec.Code != http.StatusOK || b.sink.count() != 1 || b.sink.got[0].Event.Name != "meeting.started" {
		t.Fatalf("status %d enqueued %d", rec.Code, b.sink.count())
	}
}

func TestHandlerURLValidationIsAnsweredNotEnqueued(t *testing.T) {
	b := setup(t)
	body := []byte(`{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)
	rec := b.post("/webhooks/zoom/"+testAccount, testSecret, body)
	var got URLValidation
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
	if got != ValidateURL(testSecret, "qgg8vlvZRS6UYooatFL8Aw") || b.sink.count() != 0 {
		t.Fatalf("answer %+v enqueued %d", got, b.sink.count())
	}
	// An unsigned validation request is refused like any other.
	if rec := b.post("/webhooks/zoom/"+testAccount, "", body); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unsigned validation: status %d", rec.Code)
	}
}

func TestHandlerRejectsNonPOST(t *testing.T) {
	b := setup(t)
	h := NewHandler(HandlerOptions{Accounts: accountMap{}, Sink: b.sink})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/webhooks/zoom", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestHandlerNeverLogsSecrets(t *testing.T) {
	b := setup(t)
	b.post("/webhooks/zoom/"+testAccount, "wrong", presenceBody(testAccount))
	b.sink.failWith = errors.New("down")
	b.post("/webhooks/zoom/"+testAccount, testSecret, presenceBody(testAccount))
	rec := b.post("/webhooks/zoom/"+testAccount, "wrong", presenceBody(testAccount))
	expected := Sign(testSecret, b.clock.Now().Unix(), presenceBody(testAccount))
	for _, leak := range []string{testSecret, strings.TrimPrefix(expected, "v0=")} {
		if strings.Contains(b.logs.String(), leak) || strings.Contains(rec.Body.String(), leak) {
			t.Fatalf("secret material %q leaked:\nlogs: %s\nbody: %s", leak, b.logs, rec.Body)
		}
	}
	if !strings.Contains(b.logs.String(), "webhook refused") {
		t.Fatalf("expected refusal to be logged: %s", b.logs)
	}
	want := []string{OutcomeBadSignature, OutcomeUnavailable, OutcomeBadSignature}
	if strings.Join(b.outcomes, ",") != strings.Join(want, ",") {
		t.Fatalf("outcomes %v, want %v", b.outcomes, want)
	}
}

// TestHandlerReportsRefusalReasons: every request answered with an error
// reports one reason, finer than its outcome for the signature checks (a
// sender that does not sign, a clock or a replay, a wrong secret), and a
// verified or validated request reports none.
func TestHandlerReportsRefusalReasons(t *testing.T) {
	signedAt := func(sec string, at time.Duration) func(*http.Request, []byte, time.Time) {
		return func(r *http.Request, body []byte, now time.Time) { SignRequest(r.Header, sec, now.Add(at), body) }
	}
	for _, tt := range []struct {
		name string
		path string
		body []byte
		sign func(*http.Request, []byte, time.Time)
		sink error
		want string // "" when accepted
	}{
		{"accepted", "/webhooks/zoom/" + testAccount, presenceBody(testAccount), signedAt(testSecret, 0), nil, ""},
		{"unsigned", "/webhooks/zoom/" + testAccount, presenceBody(testAccount), nil, nil, RefusedMissingSignature},
		{"no timestamp", "/webhooks/zoom/" + testAccount, presenceBody(testAccount), func(r *http.Request, _ []byte, _ time.Time) {
			r.Header.Set(HeaderSignature, "v0=00")
		}, nil, RefusedMissingTimestamp},
		{"stale", "/webhooks/zoom/" + testAccount, presenceBody(testAccount), signedAt(testSecret, -6*time.Minute), nil, RefusedStaleTimestamp},
		{"wrong secret", "/webhooks/zoom/" + testAccount, presenceBody(testAccount), signedAt("not-the-secret", 0), nil, RefusedSignatureMismatch},
		{"unknown account", "/webhooks/zoom/nobody", presenceBody("nobody"), signedAt(testSecret, 0), nil, RefusedUnknownAccount},
		{"malformed", "/webhooks/zoom", []byte("{"), nil, nil, RefusedMalformed},
		{"too large", "/webhooks/zoom/" + testAccount, bytes.Repeat([]byte("x"), MaxBodyBytes+1), nil, nil, RefusedTooLarge},
		{"not stored", "/webhooks/zoom/" + testAccount, presenceBody(testAccount), signedAt(testSecret, 0), errors.New("redis down"), RefusedUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			b.sink.failWith = tt.sink
			var reasons []string
			h := NewHandler(HandlerOptions{Accounts: accountMap{testAccount: testSecret}, Sink: b.sink, Clock: b.clock,
				OnRefused: func(reason string) { reasons = append(reasons, reason) }})
			req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(tt.body))
			if tt.sign != nil {
				tt.sign(req, tt.body, b.clock.Now())
			}
			mux := http.NewServeMux()
			h.Register(mux)
			mux.ServeHTTP(httptest.NewRecorder(), req)
			want := []string{tt.want}
			if tt.want == "" {
				want = nil
			}
			if !slices.Equal(reasons, want) {
				t.Fatalf("reasons %v, want %v", reasons, want)
			}
		})
	}
}
