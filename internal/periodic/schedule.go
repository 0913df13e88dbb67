package periodic

import (
	"fmt"
	"time"

	"github.com/adhocore/gronx"
)

// Schedule says when a job is next due.
type Schedule interface {
	// Next is the first due time after after; an error stops the job's
	// scheduled runs (kicks still run it).
	Next(after time.Time) (time.Time, error)
}

// Every is due every d after the previous due time's run.
func Every(d time.Duration) Schedule { return every(d) }

type every time.Duration

func (e every) Next(after time.Time) (time.Time, error) { return after.Add(time.Duration(e)), nil }

func (e every) String() string { return "every " + time.Duration(e).String() }

// Cron is due at each tick of a 5-field cron expression, in UTC.
func Cron(expr string) Schedule { return cron(expr) }

type cron string

func (c cron) Next(after time.Time) (time.Time, error) {
	next, err := gronx.NextTickAfter(string(c), after.UTC(), false)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %q has no next run: %w", string(c), err)
	}
	return next, nil
}

func (c cron) String() string { return "cron " + string(c) }
