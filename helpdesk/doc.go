// Package helpdesk is the HTTP API people and machines ask: who is this
// (by Zoom user id, email, extension, directory uid or employee number),
// are they available, what changed; the mapping report, the targets'
// backlogs, resync runs; and the live presence board with its stream
// (SPEC §4; openapi.json is the document, served at /v1/openapi.json).
//
// Invariants:
//   - Every endpoint but the board, / and the OpenAPI document needs a
//     bearer token (compared in constant time) and stays within the
//     token's request rate; every error is SPEC §4's JSON error, the mux's
//     own 404 and 405 included (JSONErrors).
//   - A key names one user or the answer says why not: 404, or 409
//     ambiguous with the candidates; a key is never guessed. A remembered
//     answer (a few seconds) is used only while the record still carries
//     the key.
//   - Nothing a client sends grows memory without bound: keys are at most
//     256 bytes, a bulk lookup at most 500 keys, the resolve cache is
//     bounded, live streams are capped per process and per token, and a
//     viewer that stops reading loses its stream (a write deadline per
//     event) and, while slow, misses updates rather than slowing others.
//   - Reads only: the API changes no record (a resync it starts runs in
//     package runs under the resync lease).
package helpdesk
