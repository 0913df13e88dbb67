package webhook

import (
	"net/http"
	"os"
	"path/filepath"
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
