package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomsync/zoomsync/internal/periodic"
)

// jobMetrics are the periodic runner's series (periodic.Observer). The
// job label is a job's name: a fixed set (resync, directory_read,
// mapping_link) and presence_sweep:ACCOUNT for each configured account.
type jobMetrics struct {
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
}

func newJobMetrics(pm *metrics) *jobMetrics {
	return &jobMetrics{
		runs: pm.counterVec("zoomsync_job_runs_total",
			"Runs of leader-only periodic jobs on this replica, by job and result: ok, failed, skipped (another replica holds the work).",
			"job", "result"),
		duration: pm.histogramVec("zoomsync_job_duration_seconds",
			"How long each periodic job run that did the work took (ok or failed), by job.",
			prometheus.ExponentialBuckets(0.01, 4, 11), "job"),
		lastSuccess: pm.gaugeVec("zoomsync_job_last_success_timestamp_seconds",
			"When each periodic job last succeeded on this replica (Unix seconds); the newest across replicas is the job's.",
			"job"),
	}
}

// JobRun implements periodic.Observer.
func (m *jobMetrics) JobRun(job, result string, ended time.Time, took time.Duration) {
	m.runs.WithLabelValues(job, result).Inc()
	if result == periodic.ResultSkipped {
		return
	}
	m.duration.WithLabelValues(job).Observe(took.Seconds())
	if result == periodic.ResultOK {
		m.lastSuccess.WithLabelValues(job).Set(float64(ended.UnixNano()) / 1e9)
	}
}
