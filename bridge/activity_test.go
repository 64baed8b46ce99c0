package bridge

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

// TestGroupActivity: each group's message hours, as times in UTC whatever the zone the
// hours are counted in, oldest first, once per hour; joins are not messages.
func TestGroupActivity(t *testing.T) {
	for _, zone := range []string{"UTC", "Europe/Paris", "Asia/Kolkata"} {
		t.Run(zone, func(t *testing.T) {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				t.Fatal(err)
			}
			b := stateBridge(t, func(c *Config) { c.Zone = loc })
			g := newGen()
			hour := func(offset int, h time.Duration) time.Time {
				return testNow.Truncate(24*time.Hour).AddDate(0, 0, offset).Add(h)
			}
			apply(t, b,
				g.ev(events.KindMessage, "1", hour(-3, 9*time.Hour+5*time.Minute)),
				g.ev(events.KindMessage, "2", hour(-3, 9*time.Hour+40*time.Minute)), // same hour
				g.ev(events.KindMessage, "1", hour(-1, 23*time.Hour+59*time.Minute)),
				g.ev(events.KindMessage, "2", hour(0, 10*time.Minute)),
				g.ev(events.KindJoin, "3", hour(0, 11*time.Hour)),
			)
			// Each message's local hour, from its start or from the start of the UTC day it
			// was counted on when that is later (zones a half hour off UTC).
			start := func(at time.Time) time.Time {
				l := at.In(loc)
				s := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, loc).UTC()
				if day := at.Truncate(24 * time.Hour); s.Before(day) {
					return day
				}
				return s
			}
			var want []time.Time
			for _, at := range []time.Time{hour(-3, 9*time.Hour+5*time.Minute), hour(-3, 9*time.Hour+40*time.Minute),
				hour(-1, 23*time.Hour+59*time.Minute), hour(0, 10*time.Minute)} {
				if s := start(at); len(want) == 0 || !want[len(want)-1].Equal(s) {
					want = append(want, s)
				}
			}
			got, err := b.Query().GroupActivity(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			gs, err := b.Query().Groups(context.Background())
			if err != nil || len(gs) != 1 {
				t.Fatalf("groups %v, %v", gs, err)
			}
			if len(got) != 1 || !slices.EqualFunc(got[gs[0].Token], want, time.Time.Equal) {
				t.Errorf("activity %v, want %v for %s", got, want, gs[0].Token)
			}
		})
	}
}
