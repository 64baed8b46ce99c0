// Package eventsim generates synthetic group conversations for benchmarks and failure tests:
// Zipf-skewed activity, and planted leaders whom many different people answer, so that the
// leaders relais finds can be checked against a known truth.
package eventsim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/relais-bot/relais/events"
)

// Config shapes a workload.
type Config struct {
	Seed     uint64
	Platform events.Platform
	Groups   int
	Members  int
	Events   int
	// Leaders is how many members are planted as leaders: anyone may answer them. Everyone
	// else is only ever answered by a small circle of at most Circle people, so nobody but a
	// planted leader can reach a leader bar above Circle.
	Leaders int
	Circle  int
	// ReplyRate is the share of messages that answer someone.
	ReplyRate float64
	// End is the event time of the last event; events spread over Span before it.
	End  time.Time
	Span time.Duration
	// ZipfS > 1 skews activity: a few members write most messages.
	ZipfS float64
}

// DefaultConfig is a plausible federation: 20 groups, 2,000 members.
func DefaultConfig(n int) Config {
	return Config{
		Seed: 1, Platform: events.Telegram, Groups: 20, Members: 2000, Events: n, Leaders: 20, Circle: 3,
		ReplyRate: 0.4, End: time.Now().UTC().Truncate(time.Second), Span: 20 * 24 * time.Hour, ZipfS: 1.2,
	}
}

// Workload is a generated conversation.
type Workload struct {
	Events []events.Event
	// Leaders holds the platform ids of the planted leaders.
	Leaders map[string]bool
}

// MemberID is the platform id of member i.
func MemberID(i int) string { return fmt.Sprintf("%d", 100000+i) }

// GroupID is the platform id of group g.
func GroupID(g int) string { return fmt.Sprintf("-100%07d", g) }

// Generate builds the workload; the same Config always gives the same events.
func Generate(c Config) Workload {
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	if c.Members < 2 {
		c.Members = 2
	}
	if c.Groups < 1 {
		c.Groups = 1
	}
	if c.Circle < 1 {
		c.Circle = 1
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(c.Seed+1, c.Seed+2)), max(c.ZipfS, 1.01), 1, uint64(c.Members-1))
	// Planted leaders are spread through the ranks, not only the most talkative.
	leaders := map[string]bool{}
	leaderIdx := make([]int, 0, c.Leaders)
	for len(leaderIdx) < min(c.Leaders, c.Members/2) {
		i := rng.IntN(c.Members)
		if !leaders[MemberID(i)] {
			leaders[MemberID(i)] = true
			leaderIdx = append(leaderIdx, i)
		}
	}
	// circle(i, k): the k-th of the few people who may answer member i.
	circle := func(i, k int) int { return (i + 1 + k*7919) % c.Members }
	home := func(i int) int { return i % c.Groups }

	w := Workload{Events: make([]events.Event, 0, c.Events), Leaders: leaders}
	step := c.Span / time.Duration(max(c.Events, 1))
	start := c.End.Add(-c.Span)
	lastMsg := make([]int, c.Groups) // message id counters per group
	for n := range c.Events {
		sender := int(zipf.Uint64())
		at := start.Add(time.Duration(n) * step)
		e := events.Event{
			V: events.Version, Kind: events.KindMessage, Platform: c.Platform, At: at,
			Sender: events.Member{ID: MemberID(sender), Name: fmt.Sprintf("Membre %d", sender), FirstName: "Membre", LastName: fmt.Sprint(sender)},
			Chars:  10 + rng.IntN(200),
		}
		g := home(sender)
		if rng.Float64() < c.ReplyRate {
			var target int
			switch {
			case len(leaderIdx) > 0 && rng.IntN(2) == 0:
				target = leaderIdx[rng.IntN(len(leaderIdx))]
				g = home(target)
			default:
				// Answer someone whose circle the sender belongs to: sender = circle(target, k).
				k := rng.IntN(c.Circle)
				target = ((sender-1-k*7919)%c.Members + c.Members) % c.Members
				if circle(target, k) != sender {
					target = -1
				} else {
					g = home(target)
				}
			}
			if target >= 0 && target != sender {
				e.ReplyTo = MemberID(target)
			}
		}
		lastMsg[g]++
		e.Group = &events.Group{ID: GroupID(g), Title: fmt.Sprintf("Groupe %d", g)}
		e.ID = fmt.Sprintf("%s:%s:%d", c.Platform, GroupID(g), lastMsg[g])
		w.Events = append(w.Events, e)
	}
	return w
}
