package zoomapi

import (
	"context"
	"iter"
	"net/url"
	"strconv"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/zoomapi/zoomjson"
)

// ContactCenterUser is a Contact Center agent (GET /contact_center/users).
type ContactCenterUser struct {
	UserID        string          `json:"user_id"`
	UserEmail     string          `json:"user_email"`
	DisplayName   string          `json:"display_name"`
	RoleID        string          `json:"role_id"`
	RoleName      string          `json:"role_name"`
	StatusID      zoomjson.String `json:"status_id"`
	StatusName    string          `json:"status_name"`
	SubStatusID   zoomjson.String `json:"sub_status_id"`
	SubStatusName string          `json:"sub_status_name"`
	UserAccess    string          `json:"user_access"`
	RegionID      string          `json:"region_id"`
	RegionName    string          `json:"region_name"`
	LastModified  zoomjson.Time   `json:"last_modified_time"`
}

var epListCCUsers = endpoint{op: "zoomapi.ContactCenter.ListUsers", route: "/contact_center/users", family: FamilyContactCenter, label: Medium}

// ListUsers fetches one page of agents.
func (s *ContactCenterService) ListUsers(ctx context.Context, pageSize int, nextPageToken string) ([]*ContactCenterUser, string, *Response, error) {
	body, resp, err := s.list(ctx, pageSize, nextPageToken)
	if err != nil {
		return nil, "", resp, err
	}
	return body.Users, body.NextPageToken, resp, nil
}

// ccUsersList is a page of agents; page_size and total_records are not
// in every answer (the notes do not list them).
type ccUsersList struct {
	NextPageToken string               `json:"next_page_token"`
	PageSize      zoomjson.Int         `json:"page_size"`
	TotalRecords  zoomjson.Int         `json:"total_records"`
	Users         []*ContactCenterUser `json:"users"`
}

func (s *ContactCenterService) list(ctx context.Context, pageSize int, nextPageToken string) (*ccUsersList, *Response, error) {
	if pageSize <= 0 {
		pageSize = 100
	}
	q := url.Values{"page_size": {strconv.Itoa(pageSize)}}
	if nextPageToken != "" {
		q.Set("next_page_token", nextPageToken)
	}
	var body ccUsersList
	resp, err := s.client.call(ctx, epListCCUsers, "GET", "/contact_center/users", q, nil, &body)
	if err != nil {
		return nil, resp, err
	}
	body.Users = dropNil(body.Users)
	if body.PageSize <= 0 {
		body.PageSize = zoomjson.Int(pageSize)
	}
	return &body, resp, nil
}

// AllUsers yields every agent once.
func (s *ContactCenterService) AllUsers(ctx context.Context) iter.Seq2[*ContactCenterUser, error] {
	fetch := func(ctx context.Context, token string) (page[*ContactCenterUser], error) {
		b, _, err := s.list(ctx, 100, token)
		if err != nil {
			return page[*ContactCenterUser]{}, err
		}
		return page[*ContactCenterUser]{items: b.Users, next: b.NextPageToken, total: int(b.TotalRecords), size: int(b.PageSize)}, nil
	}
	return flatten(pager(ctx, s.client, fetch, func(u *ContactCenterUser) string { return u.UserID }, isPageTokenError))
}

var epGetCCUser = endpoint{op: "zoomapi.ContactCenter.GetUser", route: "/contact_center/users/{userId}", family: FamilyContactCenter, label: Light}

// GetUser reads one agent.
func (s *ContactCenterService) GetUser(ctx context.Context, userID string) (*ContactCenterUser, *Response, error) {
	return getOne[ContactCenterUser](ctx, s.client, epGetCCUser, "/contact_center/users/", userID, "")
}

// StatusUpdate sets an agent's status (and optional not-ready reason).
type StatusUpdate struct {
	StatusID    string `json:"status_id"`
	SubStatusID string `json:"sub_status_id,omitempty"`
}

var epUpdateCCStatus = endpoint{op: "zoomapi.ContactCenter.UpdateStatus", route: "/contact_center/users/{userId}/status", family: FamilyContactCenter, label: Light}

// UpdateStatus sets an agent's status (PATCH, 204 on success).
func (s *ContactCenterService) UpdateStatus(ctx context.Context, userID string, u StatusUpdate) error {
	if userID == "" || u.StatusID == "" {
		return errs.Errorf(epUpdateCCStatus.op, errs.Invalid, "user id and status id are required")
	}
	_, err := s.client.call(ctx, epUpdateCCStatus, "PATCH", "/contact_center/users/"+url.PathEscape(userID)+"/status", nil, u, nil)
	return err
}

// SystemStatus is an agent status the account defines.
type SystemStatus struct {
	StatusID       zoomjson.String `json:"status_id"`
	StatusName     string          `json:"status_name"`
	StatusCategory string          `json:"status_category"`
	StatusType     string          `json:"status_type"` // default or custom
}

var epListStatuses = endpoint{op: "zoomapi.ContactCenter.ListStatuses", route: "/contact_center/system_statuses", family: FamilyContactCenter, label: Light}

// ListStatuses lists the account's agent statuses (status_category
// agent_status), custom ones included.
func (s *ContactCenterService) ListStatuses(ctx context.Context) ([]SystemStatus, error) {
	var body struct {
		Statuses []SystemStatus `json:"statuses"`
	}
	_, err := s.client.call(ctx, epListStatuses, "GET", "/contact_center/system_statuses",
		url.Values{"status_category": {"agent_status"}}, nil, &body)
	return body.Statuses, err
}
