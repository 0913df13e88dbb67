package zoomapi

import (
	"context"
	"errors"
	"hash/maphash"
	"iter"
	"time"

	"github.com/zoomsync/zoomsync/internal/errs"
)

// maxRestarts bounds how often one pass starts over after its page token
// expired. Each restart re-reads pages already seen, so a pass that keeps
// losing its token (pages slower than 15 minutes apart) fails instead of
// looping.
const maxRestarts = 3

// Bounds on one pass of a listing. Zoom ends a listing with an empty
// next_page_token; a server that never does (a token handed back again, or
// pages going on far past total_records) would otherwise be asked forever.
const (
	// pageMargin: pages allowed beyond ceil(total_records/page_size), plus
	// a tenth more, for users created while the pass runs.
	pageMargin = 10
	// maxPagesUnknownTotal bounds a listing that reports no total_records
	// (Contact Center): 20,000 pages of 100 are two million agents.
	maxPagesUnknownTotal = 20_000
	// maxEmptyPages: consecutive pages without an item that still hand a
	// next_page_token.
	maxEmptyPages = pageMargin
	// maxPageTokenLen: Zoom's tokens are some 32 characters; the token is
	// sent back in the next request's query.
	maxPageTokenLen = 4096
)

// page is one fetched page, generic over the item type.
type page[T any] struct {
	items       []T
	next        string
	total       int // total_records; 0 when the answer has none
	size        int // page_size the answer reports, else the one asked for
	requestedAt time.Time
}

// pageLimit is how many pages one pass may take for total records in pages
// of size: ceil(total/size), a tenth more and pageMargin.
func pageLimit(total, size int) int {
	if total <= 0 || size <= 0 {
		return maxPagesUnknownTotal
	}
	n := (total + size - 1) / size
	return min(n+n/10+pageMargin, maxPagesUnknownTotal)
}

// errPaging is a listing that does not end as Zoom's do. Asking again at
// once would page the same way, so it is not retried; the pass (and so a
// resync) fails, and deletes nothing.
func errPaging(format string, args ...any) error {
	return errs.Errorf("zoomapi.page", errs.Permanent, format, args...)
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
		// Per pass (a restart begins a new one): the tokens handed out,
		// pages read, the largest total_records reported, empty pages in a row.
		tokens := map[uint64]struct{}{} // hashed: the tokens come from outside
		seed := maphash.MakeSeed()
		pages, total, empty := 0, 0, 0
		for {
			p, err := fetch(ctx, token)
			if err != nil {
				if token != "" && tokenExpired(err) && restarts < maxRestarts {
					restarts++
					c.logger.Info("Zoom page token expired; restarting the listing from the first page",
						"restart", restarts, "already_yielded", len(seen))
					token = ""
					clear(tokens)
					pages, empty = 0, 0
					continue
				}
				if token != "" && tokenExpired(err) {
					err = errs.E("zoomapi.page", errs.Transient,
						errors.Join(err, errors.New("page token kept expiring; gave up after restarts")))
				}
				yield(page[T]{}, err)
				return
			}
			pages++
			total = max(total, p.total)
			if len(p.items) == 0 {
				empty++
			} else {
				empty = 0
			}
			if p.next != "" {
				if len(p.next) > maxPageTokenLen {
					yield(page[T]{}, errPaging("Zoom answered a next_page_token of %d bytes (page %d)", len(p.next), pages))
					return
				}
				h := maphash.String(seed, p.next)
				if _, again := tokens[h]; again || p.next == token {
					yield(page[T]{}, errPaging("Zoom handed back a next_page_token it had already given in this listing (page %d): the listing would never end", pages))
					return
				}
				if limit := pageLimit(total, p.size); pages >= limit {
					yield(page[T]{}, errPaging("the listing went on past %d pages for total_records %d at page_size %d: it would not end", pages, total, p.size))
					return
				}
				if empty > maxEmptyPages {
					yield(page[T]{}, errPaging("%d pages in a row without an item still had a next_page_token: the listing would not end", empty))
					return
				}
				tokens[h] = struct{}{}
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
