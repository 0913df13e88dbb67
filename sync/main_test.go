package zsync

import (
	"os"
	"testing"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

// TestMain checks every answer of the fake Zoom these tests use, and every
// request the puller sends it, against Zoom's documents.
func TestMain(m *testing.M) { os.Exit(contract.Run(m)) }
