package helpdesk

import (
	_ "embed"
	"net/http"
)

// openAPI is the API's OpenAPI document; openapi_test.go checks it against
// the handlers.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
