package zoomapi

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// maxRestarts bounds how often one pass starts over after its page token
// expired. Each restart re-reads pages already seen, so a pass that keeps
// losing its token (pages slower than 15 minutes apart) fails instead of
// looping.
const maxRestarts = 3

// page is one fetched page, generic over the item type.
type page[T any] struct {
	items       []T
	next        string
	total       int
	requestedAt time.Time
}

// pager yields the pages of one listing, restarting from the first page
// when Zoom reports the page token expired and dropping items already
// yielded (by key), so every item is yielded exactly once per pass.
func pager[T any](ctx context.Context, c *Client, fetch func(ctx context.Context, token string) (page[T], error),
	key func(T) string, tokenExpired func(error) bool) iter.Seq2[page[T], error] {
	return func(yield func(page[T], error) bool) {
		seen := map[string]struct{}{}
		restarts := 0
		token := ""
		for {
			p, err := fetch(ctx, token)
			if err != nil {
				if token != "" && tokenExpired(err) && restarts < maxRestarts {
					restarts++
					c.logger.Info("Zoom page token expired; restarting the listing from the first page",
						"restart", restarts, "already_yielded", len(seen))
					token = ""
					continue
				}
				if token != "" && tokenExpired(err) {
					err = errs.E("zoomapi.page", errs.Transient,
						errors.Join(err, errors.New("page token kept expiring; gave up after restarts")))
				}
				yield(page[T]{}, err)
				return
			}
			fresh := p.items[:0:0]
			for _, it := range p.items {
				k := key(it)
				if k != "" {
					if _, dup := seen[k]; dup {
						continue
					}
					seen[k] = struct{}{}
				}
				fresh = append(fresh, it)
			}
			p.items = fresh
			if !yield(p, nil) {
				return
			}
			if p.next == "" {
				return
			}
			token = p.next
		}
	}
}

// isPageTokenError reports Zoom's "next page token invalid or expired":
// code 300 on /users, code 400 on /phone/users (zoom-api.md §2, §3).
func isPageTokenError(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.HTTPStatus != 400 {
		return false
	}
	return e.Code == CodeBadPageToken || e.Code == 400
}
