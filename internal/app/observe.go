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

// MappingRun implements mapper.Observer.
func (m *metrics) MappingRun(result string, sizes map[string]int) {
	m.mappingRuns.WithLabelValues(result).Inc()
	for cat, n := range sizes {
		m.mappingReport.WithLabelValues(cat).Set(float64(n))
	}
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
