package app

import (
	"context"
	"log/slog"
	"time"
)

// readModelLog tells the log what the read model does: a load other
// than the first (a gap in the presence channel, a new mapping, drift)
// and drift found.
type readModelLog struct{ log *slog.Logger }

func (r readModelLog) Loaded(users int, d time.Duration, reason string) {
	level := slog.LevelInfo
	if reason == "start" || reason == "mapping" {
		level = slog.LevelDebug
	}
	r.log.Log(context.Background(), level, "read model loaded", slog.Int("users", users), slog.Duration("took", d), slog.String("reason", reason))
}

func (r readModelLog) Drifted(users int) {
	r.log.Warn("read model drifted from Redis: users re-read", slog.Int("users", users))
}
