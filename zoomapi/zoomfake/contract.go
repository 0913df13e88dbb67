package zoomfake

import (
	"net/http"
	"sync/atomic"
)

// ContractCheck checks the fake against Zoom's published documents: every
// answer it gives (Handler wraps every new Server's handler) and every
// webhook body an Account builds (Event). Package
// zoomapi/zoomfake/contract implements it for tests; a test binary
// installs it once, in its TestMain, for every fake it creates.
type ContractCheck interface {
	Handler(next http.Handler) http.Handler
	Event(name string, body []byte)
}

var contractCheck atomic.Pointer[ContractCheck]

// SetContractCheck installs c for the Servers created after it and for
// every webhook body built after it; nil removes it. Not for production
// code: the demo and serve never set one.
func SetContractCheck(c ContractCheck) {
	if c == nil {
		contractCheck.Store(nil)
		return
	}
	contractCheck.Store(&c)
}

func checkEvent(name string, body []byte) {
	if c := contractCheck.Load(); c != nil {
		(*c).Event(name, body)
	}
}
