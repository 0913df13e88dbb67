package contract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The documents, in testdata/zoom-openapi at the module's root (see
// SOURCES.md there). Each is loaded and compiled once per process, the
// first time a call needs it.
const (
	usersDoc    = "zoom-users-api.openapi.json"
	phoneDoc    = "zoom-phone-api.ZoomPhoneAPISpec.json"
	notesDoc    = "zoom-notes.openapi.json" // Contact Center and the token endpoint, from the team's notes
	webhooksDoc = "zoom-users-webhooks.openapi.json"
	allowFile   = "allowlist.json"
)

// routeHost is the host every document's server is set to; requests are
// routed as if sent there.
const routeHost = "zoom.test"

// Dir finds testdata/zoom-openapi by walking up from the working
// directory (a test runs in its package's directory) to the module root.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "zoom-openapi"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("contract: no go.mod above the working directory")
		}
		dir = parent
	}
}

type apiDoc struct {
	once   sync.Once
	file   string
	keep   func(path string) bool // the paths worth compiling; nil: all
	router routers.Router
	err    error
}

var (
	// Only the paths zoomsync calls are compiled (the Users document has
	// 41, the Phone one 192): a second less per test binary under -race.
	// A request to another path finds no operation, and says so.
	apiDocs = map[string]*apiDoc{
		usersDoc: {file: usersDoc, keep: keepPaths("/users", "/users/{userId}", "/users/{userId}/presence_status")},
		phoneDoc: {file: phoneDoc, keep: keepPaths("/phone/users", "/phone/users/{userId}")},
		notesDoc: {file: notesDoc},
	}
	events struct {
		once    sync.Once
		raw     []byte
		err     error
		mu      sync.Mutex
		schemas map[string]*openapi3.Schema // by event name; nil: undocumented
	}
)

func keepPaths(paths ...string) func(string) bool {
	return func(p string) bool {
		for _, k := range paths {
			if p == k {
				return true
			}
		}
		return false
	}
}

// docFor names the document that describes a request path.
func docFor(path string) string {
	switch {
	case strings.HasPrefix(path, "/v2/phone/"):
		return phoneDoc
	case strings.HasPrefix(path, "/v2/contact_center/"), path == "/oauth/token":
		return notesDoc
	}
	return usersDoc
}

func (d *apiDoc) load() (routers.Router, error) {
	d.once.Do(func() {
		dir, err := Dir()
		if err != nil {
			d.err = err
			return
		}
		raw, err := os.ReadFile(filepath.Join(dir, d.file))
		if err != nil {
			d.err = err
			return
		}
		if d.keep != nil {
			if raw, err = prunePaths(raw, d.keep); err != nil {
				d.err = fmt.Errorf("%s: %w", d.file, err)
				return
			}
		}
		doc, err := openapi3.NewLoader().LoadFromData(raw)
		if err != nil {
			d.err = fmt.Errorf("%s: %w", d.file, err)
			return
		}
		// Route every request as if sent to the document's own base path
		// on routeHost, wherever the test server listens.
		base := "/v2"
		if d.file == notesDoc {
			base = ""
		}
		doc.Servers = openapi3.Servers{{URL: "http://" + routeHost + base}}
		d.router, d.err = gorillamux.NewRouter(doc)
	})
	return d.router, d.err
}

// prunePaths drops the paths keep refuses from an OpenAPI document, and
// the components that no kept path reaches.
func prunePaths(raw []byte, keep func(string) bool) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var paths map[string]json.RawMessage
	if err := json.Unmarshal(doc["paths"], &paths); err != nil {
		return nil, err
	}
	for p := range paths {
		if !keep(p) {
			delete(paths, p)
		}
	}
	b, err := json.Marshal(paths)
	if err != nil {
		return nil, err
	}
	doc["paths"] = b
	if len(doc["components"]) > 0 {
		var comps map[string]map[string]json.RawMessage
		if err := json.Unmarshal(doc["components"], &comps); err == nil {
			// Keep what the kept paths refer to, transitively; security
			// schemes are named, not referred to: keep them all.
			reached := map[string]bool{}
			queue := [][]byte{b}
			for len(queue) > 0 {
				next := queue[0]
				queue = queue[1:]
				for _, m := range componentRef.FindAllSubmatch(next, -1) {
					k := string(m[1]) + "/" + string(m[2])
					if reached[k] {
						continue
					}
					reached[k] = true
					if c, ok := comps[string(m[1])][string(m[2])]; ok {
						queue = append(queue, c)
					}
				}
			}
			for kind, byName := range comps {
				if kind == "securitySchemes" {
					continue
				}
				for name := range byName {
					if !reached[kind+"/"+name] {
						delete(byName, name)
					}
				}
			}
			if doc["components"], err = json.Marshal(comps); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(doc)
}

var componentRef = regexp.MustCompile(`"\$ref"\s*:\s*"#/components/([^/"]+)/([^"]+)"`)

// route finds the documented operation of a request.
func route(r *http.Request) (*routers.Route, map[string]string, error) {
	d := apiDocs[docFor(r.URL.Path)]
	router, err := d.load()
	if err != nil {
		return nil, nil, err
	}
	rr := r.Clone(context.WithoutCancel(r.Context()))
	u := *r.URL
	u.Scheme, u.Host = "http", routeHost
	rr.URL, rr.Host = &u, routeHost
	return router.FindRoute(rr)
}

// eventSchema is the documented body of a webhook event, nil if none.
// Each event's schema is compiled alone, the first time it is needed.
func eventSchema(name string) (*openapi3.Schema, error) {
	events.once.Do(func() {
		dir, err := Dir()
		if err == nil {
			events.raw, err = os.ReadFile(filepath.Join(dir, webhooksDoc))
		}
		events.err = err
		events.schemas = map[string]*openapi3.Schema{}
	})
	if events.err != nil {
		return nil, events.err
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	if sc, ok := events.schemas[name]; ok {
		return sc, nil
	}
	// The Users webhooks document is OpenAPI 3.1 with event names for
	// paths; each POST's request body is the event's schema.
	raw, err := prunePaths(events.raw, func(p string) bool { return p == name })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", webhooksDoc, err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", webhooksDoc, err)
	}
	var sc *openapi3.Schema
	if item := doc.Paths.Value(name); item != nil && item.Post != nil && item.Post.RequestBody != nil && item.Post.RequestBody.Value != nil {
		if mt := item.Post.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			sc = mt.Schema.Value
		}
	}
	events.schemas[name] = sc
	return sc, nil
}
