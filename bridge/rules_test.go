package bridge

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

// TestTagRules checks each bar and each hysteresis boundary with the default bars (active:
// 10 messages on 3 days, kept down to 7 on 2; leader: 5 people, kept down to 4; window, hold
// and dormant memory 30 days; new for 14 days). Day offsets are relative to today; the
// member is "m".
func TestTagRules(t *testing.T) {
	everyDay := func(from, to, n int) map[int]int {
		out := map[int]int{}
		for d := from; d <= to; d++ {
			out[d] = n
		}
		return out
	}
	plus := func(m map[int]int, d, n int) map[int]int { m[d] += n; return m }
	type replies map[int][]string // day → people who replied to m that day (once each)
	cases := []struct {
		name    string
		cfg     func(*Config)
		msgs    map[int]int
		replies replies
		joined  *int // day of a join event
		want    []string
	}{
		{name: "nothing", want: nil},
		{name: "active at the bar", msgs: map[int]int{0: 4, -1: 3, -2: 3}, want: []string{"actif"}},
		{name: "one message short", msgs: map[int]int{0: 3, -1: 3, -2: 3}, want: nil},
		{name: "one day short", msgs: map[int]int{0: 5, -1: 5}, want: nil},
		{name: "30 messages on one day", msgs: map[int]int{0: 30}, want: nil},
		{name: "window edge: oldest day still in", msgs: map[int]int{-29: 4, -28: 3, -27: 3}, want: []string{"actif"}},
		{name: "window edge: oldest day just out", msgs: map[int]int{-30: 4, -28: 3, -27: 3},
			want: []string{"inactif"}}, // active until the -30 day left the window
		{name: "messages 40 days old", msgs: map[int]int{-42: 4, -41: 3, -40: 3}, want: []string{"inactif"}},
		{name: "kept at the lower bar (7 messages, 2 days)", msgs: map[int]int{-35: 3, -20: 4, -10: 3}, want: []string{"actif"}},
		{name: "dropped one message under the lower bar", msgs: map[int]int{-35: 4, -20: 3, -10: 3}, want: []string{"inactif"}},
		{name: "dropped under the lower day bar", msgs: map[int]int{-35: 1, -34: 1, -10: 8}, want: []string{"inactif"}},
		{name: "no re-entry on the lower bar after a drop",
			// active at -10, under the lower bar from -5 (6 messages), back to 7 today: not
			// the full bar, so still out.
			msgs: map[int]int{-35: 4, -20: 3, -10: 3, 0: 1}, want: []string{"inactif"}},
		{name: "re-entry at the full bar after a drop", msgs: map[int]int{-35: 4, -20: 3, -10: 3, 0: 4}, want: []string{"actif"}},
		{name: "hold: full bar 9 days ago, kept since, hold 10", cfg: func(c *Config) {
			c.Window, c.Hold, c.Dormant = 7*day, 10*day, 7*day
		}, msgs: plus(everyDay(-20, 0, 1), -15, 3), want: []string{"actif"}},
		{name: "hold: full bar 9 days ago, kept since, hold 5", cfg: func(c *Config) {
			c.Window, c.Hold, c.Dormant = 7*day, 5*day, 7*day
		}, msgs: plus(everyDay(-20, 0, 1), -15, 3), want: []string{"inactif"}},
		{name: "dormant: active 16 days ago", msgs: map[int]int{-45: 4, -44: 3, -43: 3}, want: []string{"inactif"}},
		{name: "dormant memory over: active 46 days ago", msgs: map[int]int{-75: 4, -74: 3, -73: 3}, want: nil},
		{name: "leader at the bar", replies: replies{-3: {"a", "b", "c"}, 0: {"d", "e"}}, want: []string{"leader"}},
		{name: "leader one person short", replies: replies{-3: {"a", "b", "c"}, 0: {"d"}}, want: nil},
		{name: "nine replies from three people", replies: replies{-2: {"a", "b", "c"}, -1: {"a", "b", "c"}, 0: {"a", "b", "c"}}, want: nil},
		{name: "leader kept at 4 people", replies: replies{-35: {"a", "b"}, -10: {"c", "d", "e", "f"}}, want: []string{"leader"}},
		{name: "leader dropped at 3 people", replies: replies{-35: {"a", "b"}, -10: {"c", "d", "e"}}, want: nil},
		{name: "self replies do not count", replies: replies{0: {"a", "b", "c", "d", "m"}}, want: nil},
		{name: "new: joined 13 days ago", joined: ptr(-13), want: []string{"nouveau"}},
		{name: "new no more: joined 14 days ago", joined: ptr(-14), want: nil},
		{name: "seen before the join is not new", joined: ptr(-2), msgs: map[int]int{-20: 1}, want: nil},
		{name: "active, leader and new", joined: ptr(-3), msgs: map[int]int{-2: 4, -1: 3, 0: 3},
			replies: replies{0: {"a", "b", "c", "d", "e"}}, want: []string{"actif", "leader", "nouveau"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := stateBridge(t, tc.cfg)
			g := newGen()
			var evs []events.Event
			if tc.joined != nil {
				evs = append(evs, g.ev(events.KindJoin, "m", dayAt(*tc.joined, -3600)))
			}
			for d, n := range tc.msgs {
				for i := range n {
					evs = append(evs, g.ev(events.KindMessage, "m", dayAt(d, i)))
				}
			}
			for d, people := range tc.replies {
				for i, p := range people {
					e := g.ev(events.KindMessage, p, dayAt(d, 100+i))
					e.ReplyTo = "m"
					evs = append(evs, e)
				}
			}
			if len(evs) == 0 {
				evs = append(evs, g.ev(events.KindLeave, "m", dayAt(-1, 0)))
			}
			apply(t, b, evs...)
			got := activityTags(card(t, b, "m"))
			if !slices.Equal(got, tc.want) {
				t.Errorf("tags %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestTagsDoNotFlap walks a member day by day around the active bar: once in, they stay in
// while they keep the lower bar, even as the window crosses the full bar back and forth.
func TestTagsDoNotFlap(t *testing.T) {
	var now time.Time
	b := stateBridge(t, func(c *Config) {
		c.Window, c.Hold, c.Dormant = 7*day, 30*day, 7*day
		c.Now = func() time.Time { return now }
	})
	g := newGen()
	// 1 message a day, 2 on even days: the 7-day window holds 10 or 11 messages, then the
	// member slows to 1 a day (7 in the window: the lower bar) and never meets the full bar
	// again, then stops.
	var trace []bool
	for d := -40; d <= 0; d++ {
		now = dayAt(d, 0)
		n := 1
		if d < -20 && d%2 == 0 {
			n = 2
		}
		if d > -5 {
			n = 0
		}
		var evs []events.Event
		for i := range n {
			evs = append(evs, g.ev(events.KindMessage, "m", dayAt(d, i)))
		}
		if len(evs) > 0 {
			apply(t, b, evs...)
		}
		if err := b.sweep(t.Context(), true); err != nil {
			t.Fatal(err)
		}
		trace = append(trace, slices.Contains(activityTags(card(t, b, "m")), "actif"))
	}
	// Expected: off until the window first holds 10 messages, then on without a gap until
	// the member stops, then off for good.
	changes := 0
	for i := 1; i < len(trace); i++ {
		if trace[i] != trace[i-1] {
			changes++
		}
	}
	if changes != 2 || trace[len(trace)-1] || !trace[20] {
		t.Errorf("active by day: %v (%d changes, want 2)", fmtTrace(trace), changes)
	}
}

func fmtTrace(tr []bool) string {
	s := ""
	for _, v := range tr {
		s += fmt.Sprint(map[bool]string{true: "1", false: "0"}[v])
	}
	return s
}
