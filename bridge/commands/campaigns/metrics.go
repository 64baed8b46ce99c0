package campaigns

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type campaignMetrics struct {
	campaigns  *prometheus.CounterVec // by state reached: draft, cancelled, confirmed
	recipients *prometheus.CounterVec // at confirmation, by reach
	answers    *prometheus.CounterVec // by answer
}

func newCampaignMetrics(reg prometheus.Registerer) campaignMetrics {
	m := campaignMetrics{
		campaigns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "relais", Subsystem: "campaign", Name: "campaigns_total",
			Help: "Campaigns by state reached (draft, confirmed, cancelled)."}, []string{"state"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "relais", Subsystem: "campaign", Name: "audience_total",
			Help: "Members of confirmed campaigns' audiences, by reach (queued, unreachable, not_consented, objected, opted_out, capped)."}, []string{"reach"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "relais", Subsystem: "campaign", Name: "answers_total",
			Help: "Answers to campaign messages, by answer (relay, not_now, no_more)."}, []string{"answer"}),
	}
	if reg != nil {
		m.campaigns = registerOr(reg, m.campaigns)
		m.recipients = registerOr(reg, m.recipients)
		m.answers = registerOr(reg, m.answers)
	}
	return m
}

func registerOr(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}
