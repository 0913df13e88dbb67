package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/internal/secret"
)

type signatureVector struct {
	SecretToken string `json:"secret_token"`
	Timestamp   string `json:"x_zm_request_timestamp"`
	RawBody     string `json:"raw_body"`
	Signature   string `json:"x_zm_signature"`
	URLAnswer   *struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	} `json:"expected_url_validation_response"`
}

func loadVectors(t *testing.T) []signatureVector {
	t.Helper()
	b, err := os.ReadFile("testdata/webhook-signature-test-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []signatureVector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != 2 {
		t.Fatalf("want 2 vectors, got %d", len(f.Vectors))
	}
	return f.Vectors
}

// verifierAt returns a verifier whose clock reads ts (Unix seconds).
func verifierAt(secretToken string, ts int64) *Verifier {
	return &Verifier{Secret: secret.New(secretToken), Clock: clockwork.NewFakeClockAt(time.Unix(ts, 0))}
}

func headers(sig, ts string) http.Header {
	h := http.Header{}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	return h
}

func TestRealVectorsVerify(t *testing.T) {
	for i, v := range loadVectors(t) {
		t.Run(strconv.Itoa(i+1), func(t *testing.T) {
			ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
			if got := Sign(v.SecretToken, ts, []byte(v.RawBody)); got != v.Signature {
				t.Fatalf("Sign = %s, want %s", got, v.Signature)
			}
			if err := verifierAt(v.SecretToken, ts).Verify(headers(v.Signature, v.Timestamp), []byte(v.RawBody)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// The second vector contains \uD83D escapes: re-encoding the JSON before
// hashing (as Zoom's Node samples do) would change the bytes.
func TestRealVectorEscapesAreHashedRaw(t *testing.T) {
	v := loadVectors(t)[1]
	var anyJSON any
	if err := json.Unmarshal([]byte(v.RawBody), &anyJSON); err != nil {
		t.Fatal(err)
	}
	reencoded, _ := json.Marshal(anyJSON)
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	if err := verifierAt(v.SecretToken, ts).Verify(headers(v.Signature, v.Timestamp), reencoded); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("re-encoded body must not verify, got %v", err)
	}
}

func TestRealVectorURLValidation(t *testing.T) {
	v := loadVectors(t)[0]
	got := ValidateURL(v.SecretToken, v.URLAnswer.PlainToken)
	if got.PlainToken != v.URLAnswer.PlainToken || got.EncryptedToken != v.URLAnswer.EncryptedToken {
		t.Fatalf("ValidateURL = %+v, want %+v", got, *v.URLAnswer)
	}
}

func TestVerifyTamperedBody(t *testing.T) {
	v := loadVectors(t)[0]
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	body := []byte(v.RawBody)
	body[len(body)-3] ^= 1
	if err := verifierAt(v.SecretToken, ts).Verify(headers(v.Signature, v.Timestamp), body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}

func TestVerifyWrongSecret(t *testing.T) {
	v := loadVectors(t)[0]
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	if err := verifierAt("another-secret", ts).Verify(headers(v.Signature, v.Timestamp), []byte(v.RawBody)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}

func TestVerifyStaleTimestamp(t *testing.T) {
	v := loadVectors(t)[0]
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	ver := verifierAt(v.SecretToken, ts+int64((5*time.Minute+time.Second)/time.Second))
	if err := ver.Verify(headers(v.Signature, v.Timestamp), []byte(v.RawBody)); !errors.Is(err, ErrStaleTimestamp) {
		t.Fatalf("got %v, want ErrStaleTimestamp", err)
	}
	// Exactly at the edge is still accepted.
	ver = verifierAt(v.SecretToken, ts+300)
	if err := ver.Verify(headers(v.Signature, v.Timestamp), []byte(v.RawBody)); err != nil {
		t.Fatalf("at 5 minutes: %v", err)
	}
}

func TestVerifyFutureTimestamp(t *testing.T) {
	v := loadVectors(t)[0]
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	ver := verifierAt(v.SecretToken, ts-301)
	if err := ver.Verify(headers(v.Signature, v.Timestamp), []byte(v.RawBody)); !errors.Is(err, ErrStaleTimestamp) {
		t.Fatalf("got %v, want ErrStaleTimestamp", err)
	}
}

// A timestamp in milliseconds (a common mistake) is far in the future.
func TestVerifyMillisecondTimestampRejected(t *testing.T) {
	now := time.Unix(1720705455, 0)
	body := []byte(`{"event":"x"}`)
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	ver := &Verifier{Secret: secret.New("s"), Clock: clockwork.NewFakeClockAt(now)}
	if err := ver.Verify(headers(signHeader("s", ms, body), ms), body); !errors.Is(err, ErrStaleTimestamp) {
		t.Fatalf("got %v, want ErrStaleTimestamp", err)
	}
}

func TestVerifyMissingSignature(t *testing.T) {
	v := loadVectors(t)[0]
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	err := verifierAt(v.SecretToken, ts).Verify(headers("", v.Timestamp), []byte(v.RawBody))
	if !errors.Is(err, ErrMissingSignature) || errs.KindOf(err) != errs.Auth {
		t.Fatalf("got %v, want ErrMissingSignature of kind auth", err)
	}
}

func TestVerifyMissingTimestamp(t *testing.T) {
	v := loadVectors(t)[0]
	ts, _ := strconv.ParseInt(v.Timestamp, 10, 64)
	for _, bad := range []string{"", "abc", "-5", "1.5"} {
		t.Run(bad, func(t *testing.T) {
			err := verifierAt(v.SecretToken, ts).Verify(headers(v.Signature, bad), []byte(v.RawBody))
			if !errors.Is(err, ErrMissingTimestamp) {
				t.Fatalf("got %v, want ErrMissingTimestamp", err)
			}
		})
	}
}

func TestSignRequestRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"event":"user.created","payload":{}}`)
	h := http.Header{}
	SignRequest(h, "tok", now, body)
	ver := &Verifier{Secret: secret.New("tok"), Clock: clockwork.NewFakeClockAt(now)}
	if err := ver.Verify(h, body); err != nil {
		t.Fatal(err)
	}
}
