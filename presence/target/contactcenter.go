package target

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/zoomsync/zoomsync/internal/errs"
	"github.com/zoomsync/zoomsync/zoomapi"
)

// TypeZoomContactCenter sets agents' Zoom Contact Center statuses;
// status_map values are Contact Center status ids ("1" Ready, "2" Not
// Ready, or a custom status's id).
const TypeZoomContactCenter = "zoom_contact_center"

func init() {
	Register(Type{Name: TypeZoomContactCenter, Decode: decodeContactCenter, New: newContactCenter})
}

// contactCenterSettings: the type has no fields of its own.
type contactCenterSettings struct{}

func (contactCenterSettings) Endpoint() string { return "" }

func decodeContactCenter(json.RawMessage) (Settings, error) { return contactCenterSettings{}, nil }

// contactCenter sets agents' statuses through Zoom Contact Center
// (PATCH /contact_center/users/{userId}/status) with the user's own
// account's client (Deps.Zoom), whose limiter keeps to that API's rate
// limits.
//
// It never fights an agent: when the agent's status changed (webhook
// contact_center.user_status_changed, by hand or by the queue) after the
// presence change being pushed, the push is skipped. The agent's newer
// choice wins; the next presence change is pushed as usual.
type contactCenter struct {
	clients map[string]*zoomapi.Client // account id → client
}

func newContactCenter(_ Config, deps Deps) (Driver, error) {
	return &contactCenter{clients: deps.Zoom}, nil
}

func (c *contactCenter) Push(ctx context.Context, p Push) error {
	client := c.clients[p.AccountID]
	if client == nil {
		return errs.Errorf("target.contactCenter.Push", errs.Permanent, "no Zoom client for account %s", p.AccountID)
	}
	if !p.AgentStatusAt.IsZero() && p.AgentStatusAt.After(p.Since) {
		return fmt.Errorf("%w: the agent's status changed at %s, after the presence change at %s", ErrSkip,
			p.AgentStatusAt.UTC().Format("15:04:05.000"), p.Since.UTC().Format("15:04:05.000"))
	}
	return client.ContactCenter.UpdateStatus(ctx, p.ZoomUserID, zoomapi.StatusUpdate{StatusID: p.TargetStatus})
}
