package contract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
	apiDocs = map[string]*apiDoc{
		usersDoc: {file: usersDoc},
		// 192 paths, of which zoomsync calls two: the others are left
		// out before compiling (half a second less per test binary).
		phoneDoc: {file: phoneDoc, keep: func(p string) bool { return strings.HasPrefix(p, "/phone/users") }},
		notesDoc: {file: notesDoc},
	}
	events struct {
		once    sync.Once
		schemas map[string]*openapi3.Schema
		err     error
	}
)

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

// prunePaths drops the paths keep refuses from an OpenAPI document.
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
	return json.Marshal(doc)
}

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
func eventSchema(name string) (*openapi3.Schema, error) {
	events.once.Do(func() {
		dir, err := Dir()
		if err != nil {
			events.err = err
			return
		}
		// The Users webhooks document is OpenAPI 3.1 with event names for
		// paths; the loader reads it, and each POST's request body is the
		// event's schema.
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(filepath.Join(dir, webhooksDoc))
		if err != nil {
			events.err = fmt.Errorf("%s: %w", webhooksDoc, err)
			return
		}
		events.schemas = map[string]*openapi3.Schema{}
		for name, item := range doc.Paths.Map() {
			if item.Post == nil || item.Post.RequestBody == nil || item.Post.RequestBody.Value == nil {
				continue
			}
			mt := item.Post.RequestBody.Value.Content.Get("application/json")
			if mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
				events.schemas[name] = mt.Schema.Value
			}
		}
	})
	if events.err != nil {
		return nil, events.err
	}
	return events.schemas[name], nil
}
