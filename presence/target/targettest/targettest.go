// Package targettest is the conformance suite every target driver
// passes: a new type's test file calls Run with a Case that builds the
// driver against a far end the test controls.
//
// What the suite holds a driver to:
//   - the type is registered, and a push reaches the far end with the
//     push's TargetStatus;
//   - a far end that is down is a retryable failure (errs.Retryable),
//     so the sender backs off and tries again;
//   - a cancelled push gives up at once;
//   - pushing the same change twice leaves the far end as once;
//   - a BatchDriver answers one result per push, each delivered.
package targettest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/presence/target"
)

// FarEnd is the system a driver pushes to, as a test sees it.
type FarEnd interface {
	Holds(user string) string // the status value the far end holds for user
	SetDown(down bool)        // answer every push with an outage (a 503, say)
}

// Case is one driver under test.
type Case struct {
	Type string // the registered type name
	// Build returns a driver of the type, its far end, and a push the
	// driver can take (its TargetStatus set).
	Build func(t *testing.T) (target.Driver, FarEnd, target.Push)
}

// Run runs the suite on c.
func Run(t *testing.T, c Case) {
	t.Helper()
	if !slices.Contains(target.Types(), c.Type) {
		t.Fatalf("type %q is not registered (registered: %v)", c.Type, target.Types())
	}
	driver, far, push := c.Build(t)
	ctx := context.Background()
	t.Run("a push reaches the far end", func(t *testing.T) {
		if err := driver.Push(ctx, push); err != nil {
			t.Fatal(err)
		}
		if got := far.Holds(push.ZoomUserID); got != push.TargetStatus {
			t.Fatalf("far end holds %q, want %q", got, push.TargetStatus)
		}
	})
	t.Run("a far end that is down is a retryable failure", func(t *testing.T) {
		far.SetDown(true)
		defer far.SetDown(false)
		err := driver.Push(ctx, push)
		if err == nil || !errs.Retryable(err) {
			t.Fatalf("got %v (kind %v), want a retryable error", err, errs.KindOf(err))
		}
	})
	t.Run("a cancelled push gives up at once", func(t *testing.T) {
		far.SetDown(true)
		defer far.SetDown(false)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		start := time.Now()
		if err := driver.Push(cctx, push); err == nil {
			t.Fatal("a cancelled push succeeded")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a cancelled push took %v", d)
		}
	})
	t.Run("the push is idempotent", func(t *testing.T) {
		for range 2 {
			if err := driver.Push(ctx, push); err != nil {
				t.Fatal(err)
			}
		}
		if got := far.Holds(push.ZoomUserID); got != push.TargetStatus {
			t.Fatalf("far end holds %q after a repeated push", got)
		}
	})
	if bd, ok := driver.(target.BatchDriver); ok {
		t.Run("a batch answers one result per push", func(t *testing.T) {
			if bd.MaxBatch() < 1 {
				t.Fatalf("MaxBatch %d", bd.MaxBatch())
			}
			ps := []target.Push{push, push}
			results := bd.PushBatch(ctx, ps)
			if len(results) != len(ps) {
				t.Fatalf("%d results for %d pushes", len(results), len(ps))
			}
			for i, err := range results {
				if err != nil {
					t.Fatalf("push %d: %v", i, err)
				}
			}
		})
	}
}
