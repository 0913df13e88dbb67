package helpdesk

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"
)

// boardHTML is the live presence board: plain HTML, CSS and JS, no build
// step. It pages through GET /v1/people (so its size does not grow with
// the population) and follows GET /v1/presence/stream.
//
//go:embed board.html
var boardHTML []byte

// accountsSlot is where the page receives the configured account ids
// (for its account filter), as JSON in a non-executed script element.
var accountsSlot = []byte("__ZOOMSYNC_ACCOUNTS__")

// boardPage is boardHTML with the accounts filled in. json.Marshal
// escapes <, > and &, so no account id can close the script element.
func boardPage(accounts []string) []byte {
	ids, _ := json.Marshal(accounts)
	return bytes.Replace(boardHTML, accountsSlot, ids, 1)
}

func serveBoard(page []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		_, _ = w.Write(page)
	}
}
