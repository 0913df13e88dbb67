package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/jonboulle/clockwork"
)

// callBody is a phone.callee_answered delivery of the shape Zoom sends
// (the caller an external number).
const callBody = `{"event":"phone.callee_answered","event_ts":1800000000000,"payload":{"account_id":"acct-1","object":{"call_id":"7100000000000000001",` +
	`"caller":{"phone_number":"+12092592844","connection_type":"pstn_off_net"},"callee":{"extension_id":"ext-1","extension_type":"user",` +
	`"extension_number":1001,"phone_number":"+12092590001","user_id":"u1","name":"Ada Lovelace","timezone":"America/New_York",` +
	`"device_type":"MAC_Client(6.4.0)","connection_type":"voip"},"ringing_start_time":"2027-01-15T07:59:50Z","answer_start_time":"2027-01-15T08:00:00Z"}}}`

// BenchmarkDecode: decoding the events the pipeline sees most (the
// inbox consumer decodes every entry).
func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"presence", presenceBody(testAccount)},
		{"call", []byte(callBody)},
		{"user.updated", mustRead(b, "testdata/user.updated.json")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// discardSink accepts every delivery.
type discardSink struct{}

func (discardSink) Enqueue(context.Context, Delivery) error { return nil }

// BenchmarkHandler: one verified presence webhook through the handler
// (the Sink accepts at once), as serve's HTTP server calls it.
func BenchmarkHandler(b *testing.B) {
	clock := clockwork.NewFakeClock()
	h := NewHandler(HandlerOptions{Accounts: accountMap{testAccount: testSecret}, Sink: discardSink{}, Clock: clock,
		OnOutcome: func(string, string) {}})
	mux := http.NewServeMux()
	h.Register(mux)
	body := presenceBody(testAccount)
	hdr := http.Header{}
	SignRequest(hdr, testSecret, clock.Now(), body)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/zoom/"+testAccount, bytes.NewReader(body))
		req.Header = hdr
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
