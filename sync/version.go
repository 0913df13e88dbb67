package zsync

import "time"

// Version orders writes to one fact. See the package doc: milliseconds
// shifted left one bit, low bit 1 for webhooks so that a webhook beats a
// pulled row of the same millisecond. The largest value (year 2100 is
// about 8.2e12) stays far below 2^53, so Lua's doubles compare it exactly.
type Version int64

// WebhookVersion is the version of a webhook's facts: its event_ts (ms).
func WebhookVersion(eventTS int64) Version { return Version(eventTS<<1 | 1) }

// PullVersion is the version of a pulled row: the instant its page was
// requested, so the row is at least that new.
func PullVersion(requestedAt time.Time) Version { return Version(requestedAt.UnixMilli() << 1) }

// Time is the instant the version stands for.
func (v Version) Time() time.Time { return time.UnixMilli(int64(v >> 1)) }

// FromWebhook reports whether the version came from a webhook.
func (v Version) FromWebhook() bool { return v&1 == 1 }
