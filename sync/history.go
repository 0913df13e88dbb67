package zsync

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A user's status history is one Redis list per user, newest first, of
// packed entries "at_ms|seq|status|previous" written by the apply script
// with the change itself. A list of short strings costs a few dozen bytes
// per entry and little per user, where a stream per user cost ~4.7 KB at
// its first entry. The list expires one history window after its last
// change, and every historyTrimEvery changes the script drops entries
// older than the window from its tail and keeps at most
// maxHistoryEntries (a user whose status flaps cannot grow it without
// bound).
//
// Versions before the list wrote the history to a stream per user
// (historyStream); History reads both, so a store upgraded in place
// answers with the whole window at once; the streams expire by
// themselves a window after their last entry.
const (
	historyTrimEvery  = 16
	maxHistoryEntries = 5000
)

// parseHistoryEntry reads one packed entry.
func parseHistoryEntry(s string) (Change, bool) {
	parts := strings.SplitN(s, "|", 4)
	if len(parts) != 4 {
		return Change{}, false
	}
	at, err1 := strconv.ParseInt(parts[0], 10, 64)
	seq, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return Change{}, false
	}
	return Change{Seq: seq, Status: parts[2], Previous: parts[3], At: time.UnixMilli(at)}, true
}

// History reads a user's status history since a time (the changes that
// began then or later), oldest first.
func (s *Store) History(ctx context.Context, account, userKey string, since time.Time) ([]Change, error) {
	start := "-"
	if since.UnixMilli() > 0 {
		start = strconv.FormatInt(since.UnixMilli(), 10)
	}
	var list *redis.StringSliceCmd
	var stream *redis.XMessageSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		list = p.LRange(ctx, s.keys.historyList(account, userKey), 0, -1)
		stream = p.XRange(ctx, s.keys.historyStream(account, userKey), start, "+")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("zsync.Store.History", err)
	}
	var out []Change
	for _, m := range stream.Val() { // written before the list (oldest first)
		c := Change{}
		c.Status, _ = m.Values["status"].(string)
		c.Previous, _ = m.Values["previous"].(string)
		at, _ := m.Values["at"].(string)
		ms, _ := strconv.ParseInt(at, 10, 64)
		c.At = time.UnixMilli(ms)
		seq, _ := m.Values["seq"].(string)
		c.Seq, _ = strconv.ParseInt(seq, 10, 64)
		if c.At.Before(since) { // an entry's id is when it was written, at most a little after its change
			continue
		}
		out = append(out, c)
	}
	entries := list.Val()
	for i := len(entries) - 1; i >= 0; i-- { // the list is newest first
		c, ok := parseHistoryEntry(entries[i])
		if !ok || c.At.Before(since) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}
