package graphapi

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/zoomsync/zoomsync/graphapi/graphfake/graphcontract"
)

// contract checks every request these tests send to a fake Graph, and
// every answer it gives, against testdata/graph-openapi.
var contract *graphcontract.Checker

// fakesStarted counts the fakes tests started: when some were and the
// checker saw nothing, the fakes are not wired to it. (A run of only
// benchmarks, or of tests that start none, checks nothing and is fine.)
var fakesStarted atomic.Int32

func TestMain(m *testing.M) {
	var err error
	if contract, err = graphcontract.New(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if devs := contract.Deviations(); len(devs) > 0 {
		fmt.Fprintf(os.Stderr, "graphcontract: %d deviations from testdata/graph-openapi:\n", len(devs))
		for _, d := range devs {
			fmt.Fprintln(os.Stderr, "  "+d)
		}
		code = 1
	} else if fakesStarted.Load() > 0 && contract.Checked() == 0 {
		fmt.Fprintln(os.Stderr, "graphcontract: nothing was checked")
		code = 1
	}
	os.Exit(code)
}
