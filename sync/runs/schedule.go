package runs

import (
	"context"

	"github.com/zoomsync/zoomsync/internal/coord"
	"github.com/zoomsync/zoomsync/internal/periodic"
)

// LeaseName is the resync lease's name (coord.NewLease): every run, from
// the schedule, the API or the command, takes it.
const LeaseName = "resync"

// JobResync names the scheduled resync among the periodic jobs (its
// metrics' job label).
const JobResync = "resync"

// ScheduleSpec is the scheduled resync as a periodic job: a resync on
// every tick of schedule (ZOOMSYNC_RESYNC_SCHEDULE, 5-field cron, UTC).
// Every replica runs it; the job takes no lease of the runner's, because
// each run takes the resync lease itself (under its run id), so exactly
// one replica runs each tick and the others leave it to that one. A
// failed run waits for the next tick.
func (r *Resyncer) ScheduleSpec(schedule string) periodic.Spec {
	return periodic.Spec{Name: JobResync, Schedule: periodic.Cron(schedule), Job: scheduledJob{r}}
}

// scheduledJob runs one scheduled resync.
type scheduledJob struct{ r *Resyncer }

func (j scheduledJob) Run(ctx context.Context, _ coord.Fence) error {
	skipped, err := j.r.scheduled(ctx)
	if skipped {
		return periodic.ErrSkipped
	}
	return err
}
