package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// progressLine keeps one line of progress at the bottom of a terminal. What
// else reaches that terminal goes through above (log lines: the progress
// is drawn again under them) or through done (summaries: the progress
// they conclude is gone), so no line is ever written into the middle of
// the progress line.
type progressLine struct {
	mu   sync.Mutex
	term io.Writer
	line string // drawn now; "" when none
}

const clearLine = "\r\033[K"

// set draws line in place of the one shown.
func (s *progressLine) set(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = line
	fmt.Fprint(s.term, clearLine+line)
}

// above returns a writer for w (the terminal itself, or another stream
// shown on it) whose writes appear above the progress line.
func (s *progressLine) above(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.line != "" {
			fmt.Fprint(s.term, clearLine)
		}
		n, err := w.Write(p)
		if s.line != "" {
			fmt.Fprint(s.term, s.line)
		}
		return n, err
	})
}

// done returns a writer for w whose writes first take the progress line
// away: what they say concludes it.
func (s *progressLine) done(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.line != "" {
			fmt.Fprint(s.term, clearLine)
			s.line = ""
		}
		return w.Write(p)
	})
}

// clear takes the progress line away.
func (s *progressLine) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.line != "" {
		fmt.Fprint(s.term, clearLine)
		s.line = ""
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// resyncProgress turns the resync's page callbacks into the progress line
// of one account at a time.
type resyncProgress struct {
	line    *progressLine
	now     func() time.Time
	account string
	since   time.Time
}

func (p *resyncProgress) page(account string, seen, total int) {
	now := p.now()
	if account != p.account {
		p.account, p.since = account, now
	}
	p.line.set(progressText(account, seen, total, now.Sub(p.since)))
}

// progressText is the progress of an account's pull: users listed, of
// the total Zoom reports (total_records), and, once the pace is known,
// about how long the rest takes.
func progressText(account string, seen, total int, elapsed time.Duration) string {
	if total <= 0 {
		return fmt.Sprintf("%s: %s users listed…", account, thousands(seen))
	}
	total = max(total, seen) // users created while the listing runs
	s := fmt.Sprintf("%s: %s of %s users listed (%d%%)", account, thousands(seen), thousands(total), 100*seen/total)
	if seen > 0 && seen < total && elapsed >= 2*time.Second {
		left := time.Duration(float64(elapsed) * float64(total-seen) / float64(seen))
		s += ", about " + left.Round(time.Second).String() + " left"
	}
	return s + "…"
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// isTerminal reports whether f (a writer or a reader) is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
