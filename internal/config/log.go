package config

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/zoomsync/zoomsync/zoomapi"
)

// Logger builds the process logger from Log.
func (l Log) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.Level}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// LogValue summarises the configuration without any secret.
func (c *Config) LogValue() slog.Value {
	ids := make([]string, len(c.Zoom.Accounts))
	for i, a := range c.Zoom.Accounts {
		ids[i] = a.ID
	}
	redisMode := "embedded"
	switch {
	case c.Redis.MasterName != "":
		redisMode = "sentinel"
	case len(c.Redis.Addrs) > 0:
		redisMode = "cluster"
	case !c.Redis.URL.IsZero():
		redisMode = c.Redis.RedactedURL()
	}
	rules := make([]string, len(c.Mapping.Rules))
	for i, r := range c.Mapping.Rules {
		rules[i] = r.String()
	}
	return slog.GroupValue(
		slog.String("http_addr", c.HTTP.Addr),
		slog.String("admin_addr", c.HTTP.AdminAddr),
		slog.String("redis", redisMode),
		slog.Bool("redis_tls", c.Redis.TLS.Enabled),
		slog.String("redis_user", c.Redis.Username),
		slog.Any("zoom_accounts", ids),
		slog.String("zoom_api", zoomAPI(c.Zoom)),
		slog.String("zoom_plan", c.Zoom.Plan),
		slog.String("ldap", c.LDAP.URL),
		slog.Any("match_rules", rules),
		slog.Int("api_tokens", len(c.API.Tokens)),
		slog.Int("targets", len(c.Targets.Entries)),
		slog.String("resync_schedule", c.Resync.Schedule),
		slog.Float64("max_delete_fraction", c.Resync.MaxDeleteFraction),
		slog.Duration("tombstone_ttl", c.Resync.TombstoneTTL),
	)
}

// String is the same summary as LogValue.
func (c *Config) String() string { return fmt.Sprint(c.LogValue()) }

// zoomAPI says which REST host is configured: ZOOM_API_BASE_URL, or that
// each account follows its token's api_url (accounts with their own
// api_base_url keep it).
func zoomAPI(z Zoom) string {
	if z.APIBaseURL != "" {
		return z.APIBaseURL
	}
	return "the token's api_url, else " + zoomapi.DefaultBaseURL
}
