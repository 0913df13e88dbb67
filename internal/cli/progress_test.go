package cli

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"
	"time"
)

func TestProgressText(t *testing.T) {
	for _, tt := range []struct {
		seen, total int
		elapsed     time.Duration
		want        string
	}{
		{300, 0, time.Second, "A: 300 users listed…"},
		{300, 12000, time.Second, "A: 300 of 12,000 users listed (2%)…"},
		{3000, 12000, 10 * time.Second, "A: 3,000 of 12,000 users listed (25%), about 30s left…"},
		{1234567, 2469134, 90 * time.Second, "A: 1,234,567 of 2,469,134 users listed (50%), about 1m30s left…"},
		{12050, 12000, time.Minute, "A: 12,050 of 12,050 users listed (100%)…"},
	} {
		if got := progressText("A", tt.seen, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("progressText(%d, %d, %v) = %q, want %q", tt.seen, tt.total, tt.elapsed, got, tt.want)
		}
	}
}

// TestStatusLineKeepsLinesWhole: a log line written while the progress
// line is shown starts on a cleared line and the progress is drawn again
// under it; a summary takes the progress away. Each log line (JSON here,
// as in production) is whole on the screen.
func TestStatusLineKeepsLinesWhole(t *testing.T) {
	var term bytes.Buffer
	line := &progressLine{term: &term}
	log := slog.New(slog.NewJSONHandler(line.above(&term), nil))
	now := time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)
	p := &resyncProgress{line: line, now: func() time.Time { return now }}
	p.page("A", 300, 1200)
	log.Info("full pull complete", "account_id", "A")
	now = now.Add(4 * time.Second)
	p.page("A", 600, 1200)
	summary := line.done(&term)
	_, _ = summary.Write([]byte("account A: seen 1200\n"))
	log.Info("after the summary")

	want := clearLine + "A: 300 of 1,200 users listed (25%)…" +
		clearLine + `{"time":"T","level":"INFO","msg":"full pull complete","account_id":"A"}` + "\n" + "A: 300 of 1,200 users listed (25%)…" +
		clearLine + "A: 600 of 1,200 users listed (50%), about 4s left…" +
		clearLine + "account A: seen 1200\n" +
		`{"time":"T","level":"INFO","msg":"after the summary"}` + "\n"
	got := regexp.MustCompile(`"time":"[^"]*"`).ReplaceAllString(term.String(), `"time":"T"`) // log times vary
	if got != want {
		t.Fatalf("terminal got\n%q\nwant\n%q", got, want)
	}
}
