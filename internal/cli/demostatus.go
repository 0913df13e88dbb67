package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// The demo is quiet by default: a banner with what to open and run, then
// one status line every demoStatusEvery. --verbose prints every simulated
// event and push as well.

// demoStatusEvery is how often the quiet demo prints its status line.
const demoStatusEvery = 5 * time.Second

// demoBanner says where the board is and prints curl lines that work as
// printed (the token in a shell variable keeps them short).
func demoBanner(out io.Writer, base, token string, keys []string) {
	fmt.Fprintf(out, "\n  board:  %s/board   (sign in with the token)\n", base)
	fmt.Fprintf(out, "  token:  %s\n\n", token)
	fmt.Fprintf(out, "  export TOKEN=%s\n", token)
	for _, k := range keys {
		fmt.Fprintf(out, "  curl -sH \"Authorization: Bearer $TOKEN\" %s/v1/presence/%s\n", base, url.PathEscape(k))
	}
	fmt.Fprintln(out)
}

// statusGroups fold every one of SPEC §5's statuses into the status
// line's four columns.
var statusGroups = []struct{ name, statuses string }{
	{"available", "available,mobile_only"},
	{"away", "away"},
	{"busy", "dnd,busy,in_meeting,presenting,in_calendar_event,on_call"},
	{"offline", "offline,out_of_office,unknown"},
}

// demoCounts are what the status line reports.
type demoCounts struct {
	webhooks, pushes float64 // per second since the last line
	groups           []int   // people per statusGroups entry
}

// statusLine is one status line: within 80 columns up to a few
// thousand users.
func statusLine(at time.Time, c demoCounts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s webhooks %.0f/s pushes %.0f/s", at.Format("15:04:05"), c.webhooks, c.pushes)
	for i, g := range statusGroups {
		fmt.Fprintf(&b, " %s %d", g.name, c.groups[i])
	}
	return b.String()
}

// countByStatus asks the API how many people are in each status group.
func (a *demoAPI) countByStatus(ctx context.Context) ([]int, error) {
	out := make([]int, len(statusGroups))
	for i, g := range statusGroups {
		body, code, err := a.get(ctx, "/v1/people?limit=1&status="+g.statuses)
		if err != nil || code != 200 {
			return nil, fmt.Errorf("people: %d %v", code, err)
		}
		var page struct{ Matched int }
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			return nil, err
		}
		out[i] = page.Matched
	}
	return out, nil
}

// reportStatus prints a status line every demoStatusEvery until ctx ends.
func (a *demoAPI) reportStatus(ctx context.Context, out io.Writer, webhooks, pushes *atomic.Int64) {
	tick := time.NewTicker(demoStatusEvery)
	defer tick.Stop()
	last, lastW, lastP := time.Now(), webhooks.Load(), pushes.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, w, p := time.Now(), webhooks.Load(), pushes.Load()
		secs := now.Sub(last).Seconds()
		c := demoCounts{webhooks: float64(w-lastW) / secs, pushes: float64(p-lastP) / secs}
		last, lastW, lastP = now, w, p
		var err error
		if c.groups, err = a.countByStatus(ctx); err != nil {
			continue
		}
		fmt.Fprintln(out, statusLine(now, c))
	}
}

// demoLogger is the demo's logger: ZOOMSYNC_LOG_FORMAT and
// ZOOMSYNC_LOG_LEVEL when set; otherwise text (durations as 1.5s) on a
// terminal and JSON elsewhere, warnings and errors only unless verbose.
func demoLogger(w io.Writer, env envconfig.Lookuper, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	if s, ok := env.Lookup("ZOOMSYNC_LOG_LEVEL"); ok {
		_ = level.UnmarshalText([]byte(s)) // config.Load checked it
	}
	opts := &slog.HandlerOptions{Level: level}
	format, set := env.Lookup("ZOOMSYNC_LOG_FORMAT")
	if (set && format == "text") || (!set && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
