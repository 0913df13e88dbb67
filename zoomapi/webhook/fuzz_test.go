package webhook

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/secret"
)

func addSampleSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event":"x","event_ts":"1e3","payload":{"object":{"date-time":5}}}`))
	f.Add([]byte(`{"event":"phone.callee_x","payload":{"object":{"callee":{"extension_number":[1]}}}}`))
}

// FuzzDecode: Decode never panics, and a successful decode has a name and
// keeps the exact body.
func FuzzDecode(f *testing.F) {
	addSampleSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Decode(body)
		if err != nil {
			return
		}
		if ev.Name == "" || string(ev.Raw) != string(body) {
			t.Fatalf("decoded %q raw kept=%v", ev.Name, string(ev.Raw) == string(body))
		}
		_ = ev.UserID()
	})
}

// FuzzDecodeOnePass: Decode's one-pass reading of the envelope and the
// payload's head gives what the two-pass reading does (the contract),
// or leaves the body to it. (Bodies that repeat the "payload" key are
// the exception: one pass merges the repeats, two passes keep the last.)
func FuzzDecodeOnePass(f *testing.F) {
	addSampleSeeds(f)
	f.Add([]byte(`{"event":"user.presence_status_updated","payload":null}`))
	f.Add([]byte(`{"event":"user.presence_status_updated","payload":"x"}`))
	f.Add([]byte(`{"event":"user.presence_status_updated","payload":{"account_id":5,"object":{"id":"u"}}}`))
	f.Add([]byte(`{"event":"user.presence_status_updated","payload":{"object":{"id":"u","date-time":"2027-01-15T08:00:00Z"}}}`))
	f.Add([]byte(`{"event":"user.presence_status_updated","payload":{"object":{"id":"u","date_time":7}}}`))
	f.Add([]byte(`{"event":" ","payload":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Count(body, []byte(`"payload"`)) > 1 {
			return
		}
		got, err1 := Decode(body)
		want, err2 := decodeTwoPass(body)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Decode error %v, two passes %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if got.Name != want.Name || got.TS != want.TS || got.AccountID != want.AccountID || got.UserID() != want.UserID() ||
			(got.ObjectErr == nil) != (want.ObjectErr == nil) || !reflect.DeepEqual(got.Object, want.Object) {
			t.Fatalf("one pass %+v (%v), two passes %+v (%v)", got, got.ObjectErr, want, want.ObjectErr)
		}
	})
}

// FuzzVerify: a body signed with Sign always verifies, and flipping any
// byte of it never does.
func FuzzVerify(f *testing.F) {
	addSampleSeeds(f)
	now := time.Unix(1_800_000_000, 0)
	v := &Verifier{Secret: secret.New("fuzz-secret"), Clock: clockwork.NewFakeClockAt(now)}
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{}
		SignRequest(h, "fuzz-secret", now, body)
		if err := v.Verify(h, body); err != nil {
			t.Fatalf("signed body does not verify: %v", err)
		}
		if len(body) == 0 {
			return
		}
		mutated := append([]byte{}, body...)
		mutated[len(body)/2] ^= 0x01
		if err := v.Verify(h, mutated); err == nil {
			t.Fatal("mutated body verifies")
		}
	})
}

// fuzzSecret is the account's webhook secret in FuzzHandler.
const fuzzSecret = "fuzz-webhook-secret-token"

// FuzzHandler sends a body through the whole handler: unsigned, wrongly
// signed and signed, on the account route and the account-less one.
// Whatever the body: no panic; a status of SPEC §4 with its JSON; nothing
// unverified is accepted, enqueued or reported by event name; a signed
// body that decodes is accepted (or, a URL validation without a token,
// 400) with its exact bytes; metrics labels stay in the fixed set; the
// secret appears in no answer and no log line.
func FuzzHandler(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no samples: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for mode := range byte(6) {
			f.Add(mode, b)
		}
	}
	f.Add(byte(2), []byte(`{"event":"user.made_up","payload":{"account_id":"acct-1"}}`))
	f.Add(byte(5), []byte(`{"event":"endpoint.url_validation","payload":{"account_id":"acct-1"}}`))
	f.Add(byte(3), []byte(`{"event":"","payload":{"account_id":"nobody"}}`))
	now := time.Unix(1_800_000_000, 0)
	allowed := append(KnownEvents(), "", EventOther)
	f.Fuzz(func(t *testing.T, mode byte, body []byte) {
		clock := clockwork.NewFakeClockAt(now)
		sink := &memorySink{}
		var logs bytes.Buffer
		var events []string
		h := NewHandler(HandlerOptions{
			Accounts: accountMap{testAccount: fuzzSecret}, Sink: sink, Clock: clock,
			Logger:    slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			OnOutcome: func(event, _ string) { events = append(events, event) },
		})
		mux := http.NewServeMux()
		h.Register(mux)
		path := "/webhooks/zoom/" + testAccount
		if mode&1 == 1 {
			path = "/webhooks/zoom"
		}
		signing := []string{"", "not-the-secret", fuzzSecret}[int(mode>>1)%3]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		if signing != "" {
			SignRequest(req.Header, signing, now, body)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)

		verified := signing == fuzzSecret
		switch rec.Code {
		case 200, 400, 401, 404, 413, 503:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		var answer map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
		if rec.Code != 200 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("error answer %q", rec.Body)
			}
		}
		if len(events) != 1 || !slices.Contains(allowed, events[0]) {
			t.Fatalf("outcome events %q", events)
		}
		if !verified {
			if rec.Code == 200 || sink.count() != 0 || events[0] != "" {
				t.Fatalf("unverified: status %d, enqueued %d, event %q", rec.Code, sink.count(), events[0])
			}
		}
		ev, decodeErr := Decode(body)
		accountOK := mode&1 == 0 || (decodeErr == nil && ev.AccountID == testAccount)
		if verified && accountOK && len(body) <= MaxBodyBytes {
			switch {
			case decodeErr != nil:
				if rec.Code != 400 {
					t.Fatalf("signed, undecodable: status %d", rec.Code)
				}
			case ev.Name == EventURLValidation:
				if rec.Code != 200 && rec.Code != 400 {
					t.Fatalf("signed URL validation: status %d", rec.Code)
				}
			default:
				if rec.Code != 200 || sink.count() != 1 || !bytes.Equal(sink.got[0].Event.Raw, body) {
					t.Fatalf("signed event %q: status %d, enqueued %d", ev.Name, rec.Code, sink.count())
				}
			}
		}
		if !bytes.Contains(body, []byte(fuzzSecret)) {
			if bytes.Contains(rec.Body.Bytes(), []byte(fuzzSecret)) || bytes.Contains(logs.Bytes(), []byte(fuzzSecret)) {
				t.Fatalf("the secret leaked: answer %q logs %q", rec.Body, logs.String())
			}
		}
	})
}
