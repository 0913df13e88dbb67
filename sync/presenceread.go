package zsync

import (
	"context"
	"time"

	"github.com/zoomsync/zoomsync/presence"
)

// ApplyPresenceRead records what a REST read of a user's presence,
// asked at asked, answered (Zoom's REST spelling): a pulled fact, so an
// event newer than the read wins, and the user counts as confirmed at
// asked. The presence sweeper and the WebSocket gap repair write their
// reads through it.
//
// REST has no Mobile_signed_in: Zoom answers Available for a user signed
// in only on a phone. So a REST Available confirms a stored mobile_only
// (which only a webhook can have said) instead of replacing it; a read
// that raced a Mobile_signed_in event, or that re-reads a reactivated
// user, would otherwise turn it into available.
func (s *Store) ApplyPresenceRead(ctx context.Context, account, userKey, restStatus string, asked time.Time) error {
	read := presence.ParseZoomStatus(restStatus)
	keep := false
	if read == presence.Available {
		cur, err := s.UserFields(ctx, []UserRef{{Account: account, Key: userKey}}, []string{FieldPresence})
		if err != nil {
			return err
		}
		keep = cur[0] != nil && presence.Status(cur[0][0]) == presence.MobileOnly
	}
	if !keep {
		v := PullVersion(asked)
		if _, err := s.Apply(ctx, Write{Account: account, UserKey: userKey, Fields: []FieldWrite{
			{Name: FieldZoomStatus, Version: v, Value: restStatus},
			{Name: FieldPresence, Version: v, Value: string(read)}}}); err != nil {
			return err
		}
	}
	// A newer webhook may have won every field; the read still confirmed
	// the user now.
	return s.Touch(ctx, account, userKey, asked)
}
