package zoomapi

import (
	"context"
	"iter"
	"net/url"
	"strconv"

	"github.com/zoomsync/zoomsync/zoomapi/zoomjson"
)

// PhoneUser is a Zoom Phone user (GET /phone/users).
type PhoneUser struct {
	ID              string          `json:"id"` // the Zoom user id
	PhoneUserID     string          `json:"phone_user_id"`
	Email           string          `json:"email"`
	Name            string          `json:"name"`
	ExtensionID     string          `json:"extension_id"`
	ExtensionNumber zoomjson.String `json:"extension_number"`
	Status          string          `json:"status"` // activate, deactivate
	Site            struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"site"`
	PhoneNumbers []struct {
		ID     string          `json:"id"`
		Number zoomjson.String `json:"number"`
	} `json:"phone_numbers"`
	Department string `json:"department"`
	CostCenter string `json:"cost_center"`
}

// PhoneUsersPage is one page of phone users.
type PhoneUsersPage struct {
	Users         []*PhoneUser
	NextPageToken string
	TotalRecords  int
	PageSize      int // as the answer reports it, else as asked
}

type phoneUsersList struct {
	NextPageToken string       `json:"next_page_token"`
	PageSize      zoomjson.Int `json:"page_size"`
	TotalRecords  zoomjson.Int `json:"total_records"`
	Users         []*PhoneUser `json:"users"`
}

// MaxPhonePageSize is Zoom's maximum for /phone/users.
const MaxPhonePageSize = 100

var epListPhoneUsers = endpoint{op: "zoomapi.Phone.List", route: "/phone/users", family: FamilyPhone, label: Medium}

// List fetches one page of phone users (pageSize ≤ 100; 0 means 100).
func (s *PhoneService) List(ctx context.Context, pageSize int, nextPageToken string) (*PhoneUsersPage, *Response, error) {
	if pageSize <= 0 || pageSize > MaxPhonePageSize {
		pageSize = MaxPhonePageSize
	}
	q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
	if nextPageToken != "" {
		q.Set("next_page_token", nextPageToken)
	}
	var body phoneUsersList
	resp, err := s.client.call(ctx, epListPhoneUsers, "GET", "/phone/users", q, nil, &body)
	if err != nil {
		return nil, resp, err
	}
	body.Users = dropNil(body.Users)
	size := int(body.PageSize)
	if size <= 0 {
		size = pageSize
	}
	return &PhoneUsersPage{Users: body.Users, NextPageToken: body.NextPageToken, TotalRecords: int(body.TotalRecords), PageSize: size}, resp, nil
}

// All yields every phone user once, restarting on page-token expiry.
func (s *PhoneService) All(ctx context.Context) iter.Seq2[*PhoneUser, error] {
	fetch := func(ctx context.Context, token string) (page[*PhoneUser], error) {
		p, _, err := s.List(ctx, MaxPhonePageSize, token)
		if err != nil {
			return page[*PhoneUser]{}, err
		}
		return page[*PhoneUser]{items: p.Users, next: p.NextPageToken, total: p.TotalRecords, size: p.PageSize}, nil
	}
	return flatten(pager(ctx, s.client, fetch, func(u *PhoneUser) string { return u.ID }, isPageTokenError))
}

var epGetPhoneUser = endpoint{op: "zoomapi.Phone.Get", route: "/phone/users/{userId}", family: FamilyPhone, label: Light}

// Get reads one phone user by Zoom user id or email.
func (s *PhoneService) Get(ctx context.Context, idOrEmail string) (*PhoneUser, *Response, error) {
	return getOne[PhoneUser](ctx, s.client, epGetPhoneUser, "/phone/users/", idOrEmail, "")
}

// flatten turns a page iterator into an item iterator.
func flatten[T any](pages func(func(page[T], error) bool)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for p, err := range pages {
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}
