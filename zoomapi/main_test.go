package zoomapi_test

import (
	"os"
	"testing"

	"github.com/zoomsync/zoomsync/zoomapi/zoomfake/contract"
)

// TestMain checks every answer and webhook body of every fake Zoom these
// tests create, and every request sent to one, against Zoom's documents.
func TestMain(m *testing.M) { os.Exit(contract.Run(m)) }
