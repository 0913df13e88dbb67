package helpdesk

import (
	_ "embed"
	"net/http"
)

// boardHTML is the live presence board: plain HTML, CSS and JS, no build
// step.
//
//go:embed board.html
var boardHTML []byte

func serveBoard(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(boardHTML)
}
