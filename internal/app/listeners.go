package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/zoomsync/zoomsync/helpdesk"
	"github.com/zoomsync/zoomsync/internal/config"
)

// routes are serve's two handlers: public takes Zoom's webhooks (and must
// be reachable from the internet), admin the helpdesk API, board, stream,
// OpenAPI document and metrics (and must not be). Both answer health.
// When one listener serves everything they are the same mux.
type routes struct {
	public, admin *http.ServeMux
	// instrument, if set, wraps each listener's handler (the HTTP
	// metrics, which read the pattern the mux matched).
	instrument func(http.Handler) http.Handler
}

// handler is what a listener serves for mux.
func (r routes) handler(mux *http.ServeMux) http.Handler {
	h := helpdesk.JSONErrors(mux)
	if r.instrument != nil {
		h = r.instrument(h)
	}
	return h
}

func newRoutes(h config.HTTP) routes {
	r := routes{public: http.NewServeMux()}
	r.admin = r.public
	if !h.Shared() {
		r.admin = http.NewServeMux()
	}
	return r
}

// health registers a health endpoint on both listeners.
func (r routes) health(pattern string, h http.HandlerFunc) {
	r.public.HandleFunc(pattern, h)
	if r.admin != r.public {
		r.admin.HandleFunc(pattern, h)
	}
}

// listeners are serve's bound listeners and their servers.
type listeners struct {
	servers []*http.Server
	bound   []net.Listener
}

// listen binds ZOOMSYNC_HTTP_ADDR (and ZOOMSYNC_ADMIN_ADDR unless it is
// the same address) and tells opts where they are bound.
func listen(cfg *config.Config, r routes, limits helpdesk.Limits, log *slog.Logger, opts Options) (*listeners, error) {
	h := cfg.HTTP
	pub, err := net.Listen("tcp", h.Addr)
	if err != nil {
		return nil, fmt.Errorf("ZOOMSYNC_HTTP_ADDR %s: %w", h.Addr, err)
	}
	ls := &listeners{bound: []net.Listener{pub}, servers: []*http.Server{newHTTPServer(r.handler(r.public), limits)}}
	adminAddr := pub.Addr().String()
	if !h.Shared() {
		adm, err := net.Listen("tcp", h.AdminAddr)
		if err != nil {
			_ = pub.Close()
			return nil, fmt.Errorf("ZOOMSYNC_ADMIN_ADDR %s: %w", h.AdminAddr, err)
		}
		ls.bound = append(ls.bound, adm)
		ls.servers = append(ls.servers, newHTTPServer(r.handler(r.admin), limits))
		adminAddr = adm.Addr().String()
	}
	log.Info("zoomsync serving", slog.String("addr", pub.Addr().String()), slog.String("admin_addr", adminAddr), slog.Any("config", cfg))
	if opts.Listening != nil {
		opts.Listening(pub.Addr().String())
	}
	if opts.AdminListening != nil {
		opts.AdminListening(adminAddr)
	}
	return ls, nil
}

// serve runs every server until one fails or all are shut down; the first
// error that is not http.ErrServerClosed is sent on errc.
func (ls *listeners) serve(errc chan<- error) {
	for i, srv := range ls.servers {
		go func() {
			if err := srv.Serve(ls.bound[i]); !errors.Is(err, http.ErrServerClosed) {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
}

// shutdown stops accepting connections and waits for in-flight requests
// (the webhooks being enqueued) until ctx ends.
func (ls *listeners) shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range ls.servers {
		errs = append(errs, srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
