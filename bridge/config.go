// Package bridge turns group events into per-member activity in Redis, tags members (active,
// leader, new, dormant, per group) and publishes the desired state of each contact the CRM may
// hold. Every write is idempotent per event (per stream sequence, see memberLua), so
// redelivery, replay and concurrent replicas converge on the same state.
package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sync policies (DESIGN.md, Consent and privacy).
const (
	PolicyOptIn  = "opt-in"
	PolicyNotice = "notice"
)

const day = 24 * time.Hour

// Config is everything the bridge and its queries need. Zero fields take the defaults of
// DESIGN.md.
type Config struct {
	// KeyPrefix starts every Redis key ("relais:" by default). It must not contain braces:
	// keys carry a Redis Cluster hash tag of their own.
	KeyPrefix string

	// The active bar: ActiveMinMessages messages on ActiveMinDays distinct days in Window.
	ActiveMinMessages int // 10
	ActiveMinDays     int // 3
	// The leader bar: LeaderMinPeople distinct people replied to or mentioned the member in
	// Window.
	LeaderMinPeople int // 5
	// Window is the activity window (30 days). Windows are whole UTC days of event time.
	Window time.Duration
	// NewFor is how long a member whose join was seen stays relais-nouveau (14 days).
	NewFor time.Duration
	// Hold is the hysteresis: once a member met a full bar, they keep the tag while they stay
	// above the lower bar, for at most Hold after the last day they met the full bar (Window).
	Hold time.Duration
	// Dormant is how long a member who was active keeps relais-inactif after they last were
	// active (Window). Tags depend on Window+Hold+Dormant days of events (90 by default): a
	// replay from ReplayStart rebuilds them exactly, so the event stream's MaxAge must be at
	// least that.
	Dormant time.Duration

	TagPrefix string // "relais-"
	// Policy is the deployment's sync policy, used when no Consent is wired.
	Policy string // opt-in
	// BatchSize bounds the events of a live batch (2000). A batch takes what is already
	// delivered, so the bound only matters under a backlog. Two replicas may apply their
	// batches in any order, so a reaction to a message a few BatchSize events back or less
	// may miss its author when replicas work through a backlog: bigger batches catch up
	// faster (BenchmarkApplyBatches on real Redis: 17k events/s in batches of 2000, 24k in
	// batches of 8000) at that cost. A replay reads 8 × BatchSize at once.
	BatchSize int
	// SweepEvery is how often Run re-evaluates members whose window slid (10 minutes).
	SweepEvery time.Duration
	// DedupTTL is how long a member's state lives after the last event about them (with its
	// applied sequences, see memberLua): the span tags depend on plus 2 days
	// (Window+Hold+Dormant+2 days), as the event log forgets their events.
	DedupTTL time.Duration
	// MaxSkew is how far in the future an event time may be before the event is refused (1 day).
	MaxSkew time.Duration

	Log *slog.Logger
	// Now is the clock for sweeps and replay starts; nil means time.Now. Windows never use it
	// for event times: those come from the events.
	Now func() time.Time
	// Registerer receives the bridge's metrics; nil means none.
	Registerer prometheus.Registerer
	// Groups, when set, hears of each group with live events (the information notice).
	Groups GroupObserver
	// HistoryEnded, when set, hears of each import the bridge applied and settled, with its
	// end marker's data (the groups imported into): the post-import notice. Its error makes
	// the end marker come back.
	HistoryEnded func(ctx context.Context, importID string, data []byte) error
	// HistoryQuiet is how long after an imported event was applied routine sweeps still wait
	// for its import's end (5 minutes): an import whose end never comes (its importer died)
	// is then settled by the sweeps like anything else (history.go).
	HistoryQuiet time.Duration
	// SingleWriter says this bridge is the only one writing its Redis, which starts empty
	// (the embedded Redis: one bridge, state rebuilt at each start). It then writes with
	// plain pipelines instead of Lua scripts and keeps the applied sequences in memory
	// (write_plain.go, dedup.go); TestWritePathsAgree holds both paths to the same state.
	SingleWriter bool
	// AuthorMapSize is how many of a group's messages each generation of its message→author
	// map covers (authorMapMessages); tests set it small to see the maps rotate.
	AuthorMapSize int
	// Retention is how long the event log keeps events (RELAIS_RETENTION_DAYS); 0: no bound.
	// The message→author maps, derived from the log, never outlive it.
	Retention time.Duration
	// Zone is the local time of the weekday × hour counts organisers see (the digest's
	// zone); nil is UTC. Windows stay whole UTC days.
	Zone *time.Location
}

// withDefaults returns c with every zero field set and checks what cannot be defaulted.
func (c Config) withDefaults() (Config, error) {
	if c.KeyPrefix == "" {
		c.KeyPrefix = "relais:"
	}
	if strings.ContainsAny(c.KeyPrefix, "{}") {
		return c, fmt.Errorf("bridge config: key prefix must not contain braces")
	}
	setInt := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setDur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.Zone == nil {
		c.Zone = time.UTC
	}
	setInt(&c.ActiveMinMessages, 10)
	setInt(&c.ActiveMinDays, 3)
	setInt(&c.LeaderMinPeople, 5)
	setInt(&c.BatchSize, 2000)
	setInt(&c.AuthorMapSize, authorMapMessages)
	setDur(&c.Window, 30*day)
	setDur(&c.NewFor, 14*day)
	setDur(&c.Hold, c.Window)
	setDur(&c.Dormant, c.Window)
	setDur(&c.SweepEvery, 10*time.Minute)
	setDur(&c.MaxSkew, day)
	setDur(&c.HistoryQuiet, 5*time.Minute)
	setDur(&c.DedupTTL, c.span()+2*day)
	if c.TagPrefix == "" {
		c.TagPrefix = "relais-"
	}
	switch c.Policy {
	case "":
		c.Policy = PolicyOptIn
	case PolicyOptIn, PolicyNotice:
	default:
		return c, fmt.Errorf("bridge config: policy %q: want %s or %s", c.Policy, PolicyOptIn, PolicyNotice)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// span is how much event history the tags depend on.
func (c Config) span() time.Duration { return c.Window + c.Hold + c.Dormant }

// ReplayStart is where a replay must start so the rebuilt state equals the live one: every
// event that can still change a tag is at or after it.
func (c Config) ReplayStart(now time.Time) time.Time {
	if c.Window == 0 {
		c, _ = c.withDefaults()
	}
	return dayStart(dayOf(now) - days(c.span()) + 1)
}

// bars are the thresholds the rules script applies, derived once from the config.
type bars struct {
	windowDays, holdDays, dormantDays, newDays int
	activeMsgs, activeDays, leaderPeople       int // full bars
	keepMsgs, keepDays, keepPeople             int // lower bars (hysteresis)
}

// lower is the hysteresis bar under a full bar n: 70 % of it, rounded up, at least 1.
func lower(n int) int { return max(1, int(math.Ceil(0.7*float64(n)))) }

func (c Config) bars() bars {
	return bars{
		windowDays:   max(1, days(c.Window)),
		holdDays:     days(c.Hold),
		dormantDays:  days(c.Dormant),
		newDays:      max(1, days(c.NewFor)),
		activeMsgs:   c.ActiveMinMessages,
		activeDays:   c.ActiveMinDays,
		leaderPeople: c.LeaderMinPeople,
		keepMsgs:     lower(c.ActiveMinMessages),
		keepDays:     max(1, c.ActiveMinDays-1),
		keepPeople:   lower(c.LeaderMinPeople),
	}
}

// arg is the bars as the comma list the scripts read.
func (b bars) arg() string {
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d", b.windowDays, b.holdDays, b.dormantDays,
		b.newDays, b.activeMsgs, b.activeDays, b.leaderPeople, b.keepMsgs, b.keepDays, b.keepPeople,
		b.windowDays+b.holdDays+b.dormantDays)
}

// days converts a duration to whole days, rounding down.
func days(d time.Duration) int { return int(d / day) }

// dayOf is the UTC day number of t (days since 1970-01-01).
func dayOf(t time.Time) int {
	return int(math.Floor(float64(t.Unix()) / 86400))
}

func dayStart(d int) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }
