package target_test

import (
	"os"
	"testing"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

// TestMain checks every answer of the fake Zoom these tests use (Contact
// Center status updates), and every request the driver sends it, against
// Zoom's documents.
func TestMain(m *testing.M) { os.Exit(contract.Run(m)) }
