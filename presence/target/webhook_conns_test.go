package target_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoomsync/zoomsync/presence"
	"github.com/zoomsync/zoomsync/presence/target"
)

// TestWebhookKeepsConnectionsAliveUnderConcurrentPushes: rounds of
// concurrent pushes (as the partitions' senders make them) reuse their
// connections instead of dialing one per push.
func TestWebhookKeepsConnectionsAliveUnderConcurrentPushes(t *testing.T) {
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	d, err := target.Build(webhookConfig("pbx", srv.URL), target.Deps{}) // the driver's own client
	if err != nil {
		t.Fatal(err)
	}
	const concurrent, rounds = 32, 5
	for r := range rounds {
		var wg sync.WaitGroup
		for i := range concurrent {
			wg.Go(func() {
				p := target.Push{Target: "pbx", AccountID: "A", ZoomUserID: fmt.Sprintf("u%d", i), Status: presence.InMeeting,
					TargetStatus: "Busy", Since: time.Now(), Seq: int64(r + 1)}
				if err := d.Push(context.Background(), p); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	// Each round's pushes may need a connection each: at most that many,
	// not one per push.
	if n := dials.Load(); n > concurrent {
		t.Errorf("%d connections for %d pushes in rounds of %d, want at most %d", n, concurrent*rounds, concurrent, concurrent)
	}
}
