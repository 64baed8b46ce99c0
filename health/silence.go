package health

import (
	"context"
	"slices"
	"time"
)

// Silence rule bounds: a group needs this many events to have usual gaps at all, and is
// never called silent before minSilence (a chatty group quiet for a night is not news).
const (
	minEvents  = 8
	minSilence = 48 * time.Hour
	// silenceFactor times the group's long gaps (the 90th percentile) is unusual.
	silenceFactor = 5
)

// Silent reports whether a group that was active has gone silent far longer than its usual
// gaps. times are its last event times, in any order; only their gaps matter.
func Silent(times []time.Time, now time.Time) bool {
	if len(times) < minEvents {
		return false
	}
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	gaps := make([]time.Duration, 0, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		gaps = append(gaps, ts[i].Sub(ts[i-1]))
	}
	slices.Sort(gaps)
	usual := gaps[(len(gaps)-1)*9/10]
	silence := now.Sub(ts[len(ts)-1])
	return silence > minSilence && silence > silenceFactor*usual
}

// GroupTimes gives each group's last event times, by group token.
type GroupTimes func(ctx context.Context) (map[string][]time.Time, error)

// SilenceProbe reports each group Silent says went quiet. When times cannot be read it
// repeats what it last saw, so a read failure neither starts nor ends an incident.
func SilenceProbe(times GroupTimes, now func() time.Time) Probe {
	if now == nil {
		now = time.Now
	}
	return holdOnError(func(ctx context.Context) ([]Condition, error) {
		byGroup, err := times(ctx)
		if err != nil {
			return nil, err
		}
		var silent []Condition
		for g, ts := range byGroup {
			if Silent(ts, now()) {
				silent = append(silent, Condition{Kind: GroupSilent, Subject: g})
			}
		}
		return silent, nil
	})
}
