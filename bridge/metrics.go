package bridge

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what the bridge did. Without a registerer they count into nothing visible.
type metrics struct {
	events   *prometheus.CounterVec // by outcome
	contacts *prometheus.CounterVec // by op
	acked    prometheus.Counter
	batch    prometheus.Histogram
}

// Event outcomes.
const (
	outApplied    = "applied"
	outDuplicate  = "duplicate"
	outIgnored    = "ignored"
	outCommand    = "command"
	outDeadLetter = "dead_letter"
	outRetry      = "retry"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relais", Subsystem: "bridge", Name: "events_total",
			Help: "Events handled by the bridge, by outcome (applied, duplicate, ignored, command, dead_letter, retry).",
		}, []string{"outcome"}),
		contacts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "relais", Subsystem: "bridge", Name: "contact_changes_total",
			Help: "Contact changes published to RELAIS_CRM, by op.",
		}, []string{"op"}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "relais", Subsystem: "bridge", Name: "acked_total",
			Help: "Events acked: applied, and the contact changes they caused published. Behind events_total{outcome=\"applied\"} while contact changes wait.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "relais", Subsystem: "bridge", Name: "batch_seconds",
			Help:    "Time to apply one batch of events, publishes included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
	}
	if reg == nil {
		return m
	}
	m.events = register(reg, m.events)
	m.contacts = register(reg, m.contacts)
	m.acked = register(reg, m.acked)
	m.batch = register(reg, m.batch)
	return m
}

// register registers c, or returns the collector already registered under its name (two
// bridges in one process share their counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
