package health

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Probe says what is wrong now. A probe that cannot tell returns what it last saw, so a
// probe's own failure neither starts nor ends an incident.
type Probe interface {
	Conditions(ctx context.Context) []Condition
}

// ProbeFunc is a Probe written as a function.
type ProbeFunc func(ctx context.Context) []Condition

// Conditions calls f.
func (f ProbeFunc) Conditions(ctx context.Context) []Condition { return f(ctx) }

// Notifier tells every admin, on every platform that still works, in their language. The
// chat side (bridge/commands) implements it; Announcement.Text gives the words.
type Notifier interface {
	Notify(ctx context.Context, a Announcement) error
}

// Incident is an open or ended incident.
type Incident struct {
	Kind    Kind
	Subject string
	Detail  string
	Started time.Time
	Ended   time.Time // zero while open
	Until   time.Time // a temporary ban's end, zero when unknown
}

// Announcement is one incident starting or ending.
type Announcement struct {
	Incident
	// Uncoordinated: announced while NATS was unreachable, so other replicas may have
	// announced it too (each process dedupes only its own).
	Uncoordinated bool
	// Late: told in chat after NATS came back; Started and Ended are when it happened.
	Late bool
}

// Ending reports whether a says the incident is over.
func (a Announcement) Ending() bool { return !a.Ended.IsZero() }

// Config configures a Monitor. Zero values take the defaults noted.
type Config struct {
	// AlertAfter is how long a delayed kind must last to be an incident (RELAIS_ALERT_AFTER,
	// default 15m).
	AlertAfter time.Duration
	// Hold is how long a condition must stay gone before its incident ends: one that comes
	// back within it is the same incident (default 2m, or AlertAfter when shorter).
	Hold time.Duration
	// Interval is how often the probes run (default 30s, or a quarter of AlertAfter when
	// shorter): a short RELAIS_ALERT_AFTER, as in tests, makes the whole monitor quick.
	Interval time.Duration
	Probes   []Probe
	// Claims coordinates replicas (one announcement each way per incident); nil for a
	// single process.
	Claims   *Claims
	Webhook  *Webhook // nil: no RELAIS_ALERT_WEBHOOK
	Notifier Notifier // nil: nobody in chat (yet)
	Log      *slog.Logger
	Now      func() time.Time
	// Registerer gets relais_health_conditions and relais_health_incidents_open; nil: none.
	Registerer prometheus.Registerer
}

// tracked is one condition this process sees or saw.
type tracked struct {
	cond      Condition
	firstSeen time.Time // start of the current streak
	goneSince time.Time // zero while seen
	open      bool      // the incident started (announced here or elsewhere)
	started   time.Time // the incident's start, as announced
	// offline: started while the claims store was unreachable; ended the same way.
	offline bool
	// settled: another replica already announced both its start and its end.
	settled bool
}

// Monitor turns conditions into incidents.
type Monitor struct {
	cfg Config
	log *slog.Logger

	conditions, open *prometheus.GaugeVec

	mu      sync.Mutex
	tracked map[string]*tracked
	backlog []Announcement // announced by webhook only while NATS was down: chat them later
}

// NewMonitor returns a monitor; Run starts it.
func NewMonitor(cfg Config) *Monitor {
	if cfg.AlertAfter <= 0 {
		cfg.AlertAfter = 15 * time.Minute
	}
	if cfg.Hold <= 0 {
		cfg.Hold = min(2*time.Minute, cfg.AlertAfter)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = max(min(30*time.Second, cfg.AlertAfter/4), 100*time.Millisecond)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{cfg: cfg, log: log.With("component", "health"), tracked: map[string]*tracked{},
		conditions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relais_health_conditions",
			Help: "Subjects (groups, platforms) this process sees in each bad condition now, before RELAIS_ALERT_AFTER.",
		}, []string{"kind"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "relais_health_incidents_open",
			Help: "Incidents open as this process sees them, by kind.",
		}, []string{"kind"}),
	}
	for kind := range texts {
		m.conditions.WithLabelValues(string(kind))
		m.open.WithLabelValues(string(kind))
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{m.conditions, m.open} {
			if err := cfg.Registerer.Register(c); err != nil {
				m.log.Warn("health metrics not registered", "err", err)
			}
		}
	}
	return m
}

// Run checks the probes every Interval until ctx is done.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check runs every probe once, side by side, and acts on what they say. Each probe has a
// deadline, so one waiting on a server that went away holds neither the others nor the round.
func (m *Monitor) Check(ctx context.Context) {
	began := time.Now()
	found := make([][]Condition, len(m.cfg.Probes))
	var wg sync.WaitGroup
	for i, p := range m.cfg.Probes {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			defer cancel()
			found[i] = p.Conditions(pctx)
		})
	}
	wg.Wait()
	var conds []Condition
	for _, f := range found {
		conds = append(conds, f...)
	}
	m.log.Debug("health probes", "conditions", len(conds), "took", time.Since(began).Round(time.Millisecond).String())
	m.Observe(ctx, conds)
}

// ProbeTimeout bounds one probe, and each call to the incident store: NATS requests made
// while it is unreachable would otherwise wait as long as the context allows.
const ProbeTimeout = 5 * time.Second

// Observe acts on the conditions seen now: starts incidents that lasted long enough, ends
// those gone for Hold.
func (m *Monitor) Observe(ctx context.Context, conds []Condition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	seen := map[string]bool{}
	for _, c := range conds {
		k := c.key()
		if seen[k] {
			continue
		}
		seen[k] = true
		t := m.tracked[k]
		if t == nil {
			t = &tracked{firstSeen: now}
			m.tracked[k] = t
		}
		t.cond, t.goneSince = c, time.Time{}
		delay := time.Duration(0)
		if c.Kind.Delayed() {
			delay = m.cfg.AlertAfter
		}
		if !t.open && now.Sub(t.firstSeen) >= delay {
			m.start(ctx, t)
		}
	}
	for k, t := range m.tracked {
		if seen[k] {
			continue
		}
		if t.goneSince.IsZero() {
			t.goneSince = now
		}
		if now.Sub(t.goneSince) < m.cfg.Hold {
			continue // it may come back: then it is the same incident
		}
		if t.open {
			m.end(ctx, t)
		}
		delete(m.tracked, k)
	}
	m.flushBacklog(ctx)
	m.measure()
}

// measure sets the gauges from what is tracked.
func (m *Monitor) measure() {
	conds, open := map[Kind]int{}, map[Kind]int{}
	for _, t := range m.tracked {
		if t.goneSince.IsZero() {
			conds[t.cond.Kind]++
		}
		if t.open && !t.settled {
			open[t.cond.Kind]++
		}
	}
	for kind := range texts {
		m.conditions.WithLabelValues(string(kind)).Set(float64(conds[kind]))
		m.open.WithLabelValues(string(kind)).Set(float64(open[kind]))
	}
}

func (m *Monitor) start(ctx context.Context, t *tracked) {
	t.open, t.started = true, t.firstSeen
	inc := Incident{Kind: t.cond.Kind, Subject: t.cond.Subject, Detail: t.cond.Detail, Started: t.started, Until: t.cond.Until}
	if m.cfg.Claims == nil {
		m.announce(ctx, Announcement{Incident: inc}, true)
		return
	}
	res, started, err := m.cfg.Claims.open(ctx, inc)
	switch {
	case err != nil:
		m.log.Warn("incident store unreachable: announcing by webhook from this process only", "kind", inc.Kind, "err", err)
		t.offline = true
		a := Announcement{Incident: inc, Uncoordinated: true}
		m.announce(ctx, a, false)
		m.backlog = append(m.backlog, a)
	case res == claimWon:
		m.announce(ctx, Announcement{Incident: inc}, true)
	case res == claimSettled:
		t.settled = true
	default:
		t.started = started // another replica announced it: its start is the incident's
	}
}

func (m *Monitor) end(ctx context.Context, t *tracked) {
	if t.settled {
		return
	}
	inc := Incident{Kind: t.cond.Kind, Subject: t.cond.Subject, Detail: t.cond.Detail, Started: t.started, Ended: t.goneSince, Until: t.cond.Until}
	if m.cfg.Claims == nil {
		m.announce(ctx, Announcement{Incident: inc}, true)
		return
	}
	if t.offline {
		// Its start was never recorded: end it the way it started.
		a := Announcement{Incident: inc, Uncoordinated: true}
		m.announce(ctx, a, false)
		m.backlog = append(m.backlog, a)
		return
	}
	res, started, err := m.cfg.Claims.close(ctx, inc)
	switch {
	case err != nil:
		m.log.Warn("incident store unreachable: announcing the end by webhook from this process only", "kind", inc.Kind, "err", err)
		a := Announcement{Incident: inc, Uncoordinated: true}
		m.announce(ctx, a, false)
		m.backlog = append(m.backlog, a)
	case res == claimWon:
		inc.Started = started
		m.announce(ctx, Announcement{Incident: inc}, true)
	}
}

// flushBacklog tells admins in chat what was announced by webhook only while NATS was
// down, once the claims store answers again; each is told by the first replica to claim it.
func (m *Monitor) flushBacklog(ctx context.Context) {
	if len(m.backlog) == 0 || m.cfg.Claims == nil {
		return
	}
	var keep []Announcement
	for i, a := range m.backlog {
		won, err := m.cfg.Claims.claimLate(ctx, a)
		if err != nil {
			keep = m.backlog[i:]
			break
		}
		if won && m.cfg.Notifier != nil {
			a.Late = true
			if err := m.cfg.Notifier.Notify(ctx, a); err != nil {
				m.log.Warn("telling admins of an incident failed", "kind", a.Kind, "err", err)
			}
		}
	}
	m.backlog = keep
}

func (m *Monitor) announce(ctx context.Context, a Announcement, chat bool) {
	what := "incident started"
	if a.Ending() {
		what = "incident ended"
	}
	m.log.Warn(what, "kind", a.Kind, "subject", a.Subject, "detail", a.Detail, "started", a.Started, "uncoordinated", a.Uncoordinated)
	if m.cfg.Webhook != nil {
		if err := m.cfg.Webhook.Post(ctx, a); err != nil {
			m.log.Error("alert webhook failed", "kind", a.Kind, "err", err)
		}
	}
	if chat && m.cfg.Notifier != nil {
		if err := m.cfg.Notifier.Notify(ctx, a); err != nil {
			m.log.Warn("telling admins of an incident failed", "kind", a.Kind, "err", err)
		}
	}
}

// SetNotifier plugs in the chat side once it is built (the bridge role comes up after the
// monitor); announcements before that reach only the webhook.
func (m *Monitor) SetNotifier(n Notifier) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.Notifier = n
}

// Open lists the incidents open as this process sees them, oldest first, for /etat.
func (m *Monitor) Open() []Incident {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Incident
	for _, t := range m.tracked {
		if t.open && !t.settled {
			out = append(out, Incident{Kind: t.cond.Kind, Subject: t.cond.Subject, Detail: t.cond.Detail, Started: t.started, Until: t.cond.Until})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}
