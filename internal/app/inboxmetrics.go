package app

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	zsync "github.com/zoomsync/zoomsync/sync"
)

// inboxCollector reads inbox lag, pending entries and dead letters from
// Redis when /metrics is scraped, once serve has attached its inbox.
type inboxCollector struct {
	source  atomic.Pointer[inboxSource]
	lag     *prometheus.Desc
	pending *prometheus.Desc
	dead    *prometheus.Desc
	up      *prometheus.Desc
}

type inboxSource struct {
	inbox    *zsync.Inbox
	accounts []string
}

func newInboxCollector(m *metrics) *inboxCollector {
	labels := []string{"account", "partition"}
	c := &inboxCollector{
		lag:     m.desc("zoomsync_inbox_lag_entries", "gauge", "Inbox entries not yet delivered to a consumer.", labels...),
		pending: m.desc("zoomsync_inbox_pending_entries", "gauge", "Inbox entries delivered and not yet acknowledged.", labels...),
		dead:    m.desc("zoomsync_inbox_dead_letters", "gauge", "Entries moved to the dead-letter stream (alert on any).", labels...),
		up:      m.desc("zoomsync_redis_up", "gauge", "1 if Redis answered the last scrape's inbox queries."),
	}
	m.reg.MustRegister(c)
	return c
}

// attach makes the collector report the accounts' inbox streams.
func (c *inboxCollector) attach(inbox *zsync.Inbox, accounts []string) {
	c.source.Store(&inboxSource{inbox: inbox, accounts: accounts})
}

func (c *inboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.pending
	ch <- c.dead
	ch <- c.up
}

func (c *inboxCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.source.Load()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	up := 1.0
	for _, a := range src.accounts {
		stats, err := src.inbox.Stats(ctx, a)
		if err != nil {
			up = 0
			break
		}
		for _, s := range stats {
			p := strconv.Itoa(s.Partition)
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(s.Lag), a, p)
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.Pending), a, p)
			ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(s.DeadLetters), a, p)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}
