package errs

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestKindSurvivesWrapping(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := &Error{Op: "zoomapi.List", Kind: RateLimited, RetryAt: at, Err: errors.New("429")}
	wrapped := fmt.Errorf("pulling account A: %w", base)
	if KindOf(wrapped) != RateLimited || !Is(RateLimited, wrapped) || !Retryable(wrapped) || !RetryAt(wrapped).Equal(at) {
		t.Fatalf("kind %v retryable %v retryAt %v", KindOf(wrapped), Retryable(wrapped), RetryAt(wrapped))
	}
	if got := wrapped.Error(); got != "pulling account A: zoomapi.List: rate_limited: 429" {
		t.Fatalf("message %q", got)
	}
}

func TestRetryableKinds(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		want bool
	}{{Transient, true}, {RateLimited, true}, {Unavailable, true}, {NotFound, false}, {Auth, false},
		{Permanent, false}, {Invalid, false}, {Stale, false}, {Other, false}, {Exists, false}} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			if got := Retryable(E("op", tt.kind, nil)); got != tt.want {
				t.Fatalf("Retryable(%v) = %v", tt.kind, got)
			}
		})
	}
	if KindOf(nil) != Other || Is(Other, nil) || KindOf(errors.New("plain")) != Other {
		t.Fatal("unclassified errors must be Other, nil is no error")
	}
	if Kind(200).String() != "kind(200)" {
		t.Fatal(Kind(200).String())
	}
}
