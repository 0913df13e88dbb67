package app

import "time"

// How the packages' observers feed the process's metrics (metrics.go
// declares the series).

// DirectoryRead implements mapper.Observer.
func (m *metrics) DirectoryRead(result string, entries int) {
	m.directoryReads.WithLabelValues(result).Inc()
	if result == "ok" {
		m.directoryEntries.Set(float64(entries))
	}
}

// MappingRun implements mapper.Observer: an ok run's sizes set the
// mapping gauges (users by state, unmatched entries, conflicts, the
// deprovisioning gap).
func (m *metrics) MappingRun(result string, sizes map[string]int) {
	if result != "ok" {
		m.mappingRuns.WithLabelValues(result).Inc()
		return
	}
	m.mapped(sizes["matched"], sizes["unmatched_users"], sizes["conflicted_users"],
		sizes["unmatched_entries"], sizes["conflicts"], sizes["disabled_active"])
}

// StreamsChanged implements helpdesk.Observer.
func (m *metrics) StreamsChanged(open int, refused string) { m.streamsChanged(open, refused) }

// Pull implements runs.Observer (and counts serve's first pulls).
func (m *metrics) Pull(account, result string, took time.Duration) {
	m.pulls.WithLabelValues(account, result).Inc()
	m.pullSeconds.WithLabelValues(account).Observe(took.Seconds())
}

// PresenceRead implements sweep.Observer.
func (m *metrics) PresenceRead(account, result string) {
	m.presenceReads.WithLabelValues(account, result).Inc()
}
