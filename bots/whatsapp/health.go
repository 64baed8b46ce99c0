package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-bot/relais/health"
)

// States of the WhatsApp session, as /readyz and the relais_whatsapp_state gauge show them.
const (
	StateStarting       = "starting"
	StateWaitingLock    = "waiting_lock"    // another relais holds this device's session
	StateConnecting     = "connecting"      // dialling or reconnecting
	StateConnected      = "connected"       // authenticated, receiving
	StateLoggedOut      = "logged_out"      // unlinked from the phone or banned: pair again
	StateTemporaryBan   = "temporary_ban"   // WhatsApp refuses this number for a while
	StateClientOutdated = "client_outdated" // rebuild relais with a newer whatsmeow
	StateStreamReplaced = "stream_replaced" // the same session connected elsewhere
	StateStopped        = "stopped"
)

var allStates = []string{
	StateStarting, StateWaitingLock, StateConnecting, StateConnected, StateLoggedOut,
	StateTemporaryBan, StateClientOutdated, StateStreamReplaced, StateStopped,
}

// Health is the adapter's state for /readyz.
type Health struct {
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"` // actionable, without personal data
	// Until is when a temporary ban ends; zero otherwise.
	Until time.Time `json:"until,omitzero"`
}

// Ready reports whether the adapter is receiving WhatsApp events.
func (h Health) Ready() bool { return h.State == StateConnected }

// metrics are the adapter's Prometheus series.
type metrics struct {
	state     *prometheus.GaugeVec
	published *prometheus.CounterVec
	failures  prometheus.Counter
	replies   *prometheus.CounterVec
	campaigns *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relais_whatsapp_state",
			Help: "1 for the WhatsApp session's current state, 0 for the others.",
		}, []string{"state"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_whatsapp_events_published_total",
			Help: "WhatsApp events published to JetStream, by kind (duplicates included).",
		}, []string{"kind"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "relais_whatsapp_publish_failures_total",
			Help: "WhatsApp events left unacknowledged because publishing failed (WhatsApp redelivers them).",
		}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_whatsapp_replies_total",
			Help: "Replies handled, by outcome (sent, refused_*, throttled, failed).",
		}, []string{"outcome"}),
		campaigns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_whatsapp_campaign_messages_total",
			Help: "Campaign messages handled, by outcome (sent, blocked, failed, retry, halted, skipped).",
		}, []string{"outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.state, err = register(reg, m.state); err != nil {
		return nil, err
	}
	if m.published, err = register(reg, m.published); err != nil {
		return nil, err
	}
	if m.failures, err = register(reg, m.failures); err != nil {
		return nil, err
	}
	if m.replies, err = register(reg, m.replies); err != nil {
		return nil, err
	}
	if m.campaigns, err = register(reg, m.campaigns); err != nil {
		return nil, err
	}
	return m, nil
}

// register adds c to reg, or returns the collector already registered under its name, so a
// second adapter in one process (tests, a restart) shares the series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

// healthState is the adapter's current state, shared by the event handler and /readyz.
type healthState struct {
	mu      sync.Mutex
	h       Health
	metrics *metrics
	now     func() time.Time
}

func newHealthState(m *metrics, now func() time.Time) *healthState {
	s := &healthState{metrics: m, now: now}
	s.set(StateStarting, "")
	return s
}

// set moves to state; lastErr "" keeps the previous error for the record.
func (s *healthState) set(state, lastErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h.State != state {
		s.h.State, s.h.Since, s.h.Until = state, s.now(), time.Time{}
	}
	if lastErr != "" {
		s.h.LastError = lastErr
	}
	for _, st := range allStates {
		v := 0.0
		if st == state {
			v = 1
		}
		s.metrics.state.WithLabelValues(st).Set(v)
	}
}

// banFor records how long the current temporary ban lasts.
func (s *healthState) banFor(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h.Until = s.now().Add(d)
}

func (s *healthState) get() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// Conditions are the adapter's health incidents: the session logged out, banned, outdated or
// replaced. Subject "whatsapp": one session per deployment.
func (a *Adapter) Conditions(context.Context) []health.Condition {
	h := a.Health()
	kind, ok := map[string]health.Kind{
		StateLoggedOut:      health.WhatsAppLoggedOut,
		StateTemporaryBan:   health.WhatsAppBanned,
		StateClientOutdated: health.WhatsAppClientOutdated,
		StateStreamReplaced: health.WhatsAppStreamReplaced,
	}[h.State]
	if !ok {
		return nil
	}
	return []health.Condition{{Kind: kind, Subject: "whatsapp", Until: h.Until}}
}
