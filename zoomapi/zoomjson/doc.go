// Package zoomjson holds lenient JSON scalar types for Zoom payloads.
//
// Zoom's examples and payloads are inconsistent about scalar types: ids and
// extension numbers arrive as numbers in one place and strings in another,
// login_type as "100", date_time_ms as an ISO string. These types accept
// every form seen and never fail a decode; a value that makes no sense
// decodes as the zero value (invariant: these types never return a
// decoding error, so one odd field cannot lose an event). Both the REST client and the webhook decoder
// use them, so one quirk is handled once.
package zoomjson
