package app

import (
	"os"
	"testing"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

// TestMain checks every answer and webhook of the fake Zoom these tests
// run serve, resync and map against, and every request zoomsync sends it,
// against Zoom's documents (testdata/zoom-openapi).
func TestMain(m *testing.M) { os.Exit(contract.Run(m)) }
