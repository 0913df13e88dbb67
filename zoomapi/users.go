package zoomapi

import (
	"context"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zoomsync/zoomsync/zoomapi/zoomjson"
)

// User statuses as Zoom's list filter spells them.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
	StatusPending  = "pending"
)

// DefaultPageSize for user listings (Zoom's documented safe maximum).
const DefaultPageSize = 300

// User is a Zoom user, as listed (GET /users) or read (GET /users/{id});
// the fields only Get returns are empty in listings.
type User struct {
	ID                string          `json:"id"` // empty for pending users
	Email             string          `json:"email"`
	FirstName         string          `json:"first_name"`
	LastName          string          `json:"last_name"`
	DisplayName       string          `json:"display_name"`
	Type              zoomjson.Int    `json:"type"`
	Status            string          `json:"status"` // active, inactive, pending
	Dept              string          `json:"dept"`
	EmployeeUniqueID  string          `json:"employee_unique_id"`
	Timezone          string          `json:"timezone"`
	PMI               zoomjson.Int    `json:"pmi"`
	RoleID            zoomjson.String `json:"role_id"`
	Verified          zoomjson.Int    `json:"verified"`
	Language          string          `json:"language"`
	UserCreatedAt     zoomjson.Time   `json:"user_created_at"`
	CreatedAt         zoomjson.Time   `json:"created_at"`
	LastLoginTime     zoomjson.Time   `json:"last_login_time"`
	LastClientVersion string          `json:"last_client_version"`
	GroupIDs          []string        `json:"group_ids"`
	PlanUnitedType    string          `json:"plan_united_type"`

	// Get only.
	AccountID    string        `json:"account_id"`
	Company      string        `json:"company"`
	JobTitle     string        `json:"job_title"`
	Location     string        `json:"location"`
	Manager      string        `json:"manager"`
	PhoneNumbers []PhoneNumber `json:"phone_numbers"`
	RoleName     string        `json:"role_name"`
}

// PhoneNumber is one of a user's profile phone numbers.
type PhoneNumber struct {
	Code     string          `json:"code"`
	Country  string          `json:"country"`
	Label    string          `json:"label"`
	Number   zoomjson.String `json:"number"`
	Verified bool            `json:"verified"`
}

// Key identifies a user across pages: its id, or its lower-cased email for
// pending users, who have no id yet.
func (u *User) Key() string {
	if u.ID != "" {
		return u.ID
	}
	if u.Email != "" {
		return "email:" + strings.ToLower(u.Email)
	}
	return ""
}

// ListUsersOptions select a listing.
type ListUsersOptions struct {
	Status        string // active (default), inactive, pending
	PageSize      int    // default 300
	NextPageToken string
}

// UsersPage is one page of a user listing.
type UsersPage struct {
	Users         []*User
	Status        string
	NextPageToken string
	TotalRecords  int
	PageSize      int // as the answer reports it, else as asked
	// RequestedAt is the client clock just before the page was requested:
	// the page's rows are at least as new as this instant, which makes it
	// the version the reconciler gives them.
	RequestedAt time.Time
}

type usersList struct {
	NextPageToken string       `json:"next_page_token"`
	PageSize      zoomjson.Int `json:"page_size"`
	TotalRecords  zoomjson.Int `json:"total_records"`
	Users         []*User      `json:"users"`
}

// dropNil removes the null entries of a decoded list: {"users":[null]}
// decodes to a nil pointer, which nothing downstream expects.
func dropNil[T any](items []*T) []*T {
	return slices.DeleteFunc(items, func(it *T) bool { return it == nil })
}

var epListUsers = endpoint{op: "zoomapi.Users.List", route: "/users", family: FamilyUsers, label: Medium}

// List fetches one page of users.
func (s *UsersService) List(ctx context.Context, opts *ListUsersOptions) (*UsersPage, *Response, error) {
	o := ListUsersOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Status == "" {
		o.Status = StatusActive
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	q := url.Values{"status": {o.Status}, "page_size": {strconv.Itoa(o.PageSize)}}
	if o.NextPageToken != "" {
		q.Set("next_page_token", o.NextPageToken)
	}
	requestedAt := s.client.clock.Now()
	var body usersList
	resp, err := s.client.call(ctx, epListUsers, "GET", "/users", q, nil, &body)
	if err != nil {
		return nil, resp, err
	}
	body.Users = dropNil(body.Users)
	for _, u := range body.Users {
		if u.Status == "" {
			u.Status = o.Status
		}
	}
	size := int(body.PageSize)
	if size <= 0 {
		size = o.PageSize
	}
	return &UsersPage{Users: body.Users, Status: o.Status, NextPageToken: body.NextPageToken,
		TotalRecords: int(body.TotalRecords), PageSize: size, RequestedAt: requestedAt}, resp, nil
}

// Pages yields every page of one status, restarting transparently when the
// page token expires; each user is yielded once.
func (s *UsersService) Pages(ctx context.Context, opts ListUsersOptions) iter.Seq2[*UsersPage, error] {
	return func(yield func(*UsersPage, error) bool) {
		fetch := func(ctx context.Context, token string) (page[*User], error) {
			o := opts
			o.NextPageToken = token
			p, _, err := s.List(ctx, &o)
			if err != nil {
				return page[*User]{}, err
			}
			return page[*User]{items: p.Users, next: p.NextPageToken, total: p.TotalRecords, size: p.PageSize, requestedAt: p.RequestedAt}, nil
		}
		status := opts.Status
		if status == "" {
			status = StatusActive
		}
		for p, err := range pager(ctx, s.client, fetch, (*User).Key, isPageTokenError) {
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(&UsersPage{Users: p.items, Status: status, NextPageToken: p.next, TotalRecords: p.total, PageSize: p.size, RequestedAt: p.requestedAt}, nil) {
				return
			}
		}
	}
}

// All yields every user of one status.
func (s *UsersService) All(ctx context.Context, opts ListUsersOptions) iter.Seq2[*User, error] {
	return func(yield func(*User, error) bool) {
		for p, err := range s.Pages(ctx, opts) {
			if err != nil {
				yield(nil, err)
				return
			}
			for _, u := range p.Users {
				if !yield(u, nil) {
					return
				}
			}
		}
	}
}

// AllStatuses yields the pages of active, then inactive, then pending users:
// a complete pull of the account.
func (s *UsersService) AllStatuses(ctx context.Context, pageSize int) iter.Seq2[*UsersPage, error] {
	return func(yield func(*UsersPage, error) bool) {
		for _, st := range []string{StatusActive, StatusInactive, StatusPending} {
			for p, err := range s.Pages(ctx, ListUsersOptions{Status: st, PageSize: pageSize}) {
				if !yield(p, err) || err != nil {
					return
				}
			}
		}
	}
}

var epGetUser = endpoint{op: "zoomapi.Users.Get", route: "/users/{userId}", family: FamilyUsers, label: Light}

// Get reads one user by id or email. A missing user is errs.NotFound.
func (s *UsersService) Get(ctx context.Context, idOrEmail string) (*User, *Response, error) {
	return getOne[User](ctx, s.client, epGetUser, "/users/", idOrEmail, "")
}

// Presence is a user's presence as GET /users/{id}/presence_status says it,
// in Zoom's REST spelling (package presence normalises it).
type Presence struct {
	Status        string        `json:"status"`
	EndTime       zoomjson.Time `json:"end_time"`       // only for your own DND
	RemainingTime zoomjson.Int  `json:"remaining_time"` // minutes, own DND only
}

var epGetPresence = endpoint{op: "zoomapi.Users.GetPresence", route: "/users/{userId}/presence_status", family: FamilyUsers, label: Medium}

// GetPresence reads a user's presence status.
func (s *UsersService) GetPresence(ctx context.Context, idOrEmail string) (*Presence, *Response, error) {
	return getOne[Presence](ctx, s.client, epGetPresence, "/users/", idOrEmail, "/presence_status")
}
