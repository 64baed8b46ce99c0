package bridge

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

// TestGroupHoursAndChat: the group keeps its platform id (what membership is asked about)
// and its messages per local weekday × hour, in the configured zone, over recent days.
func TestGroupHoursAndChat(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	b := stateBridge(t, func(c *Config) { c.Zone = paris })
	g := newGen()
	var evs []events.Event
	// Three messages on the test's today at 12:00 UTC, one on the day before at 12:00 UTC,
	// one too old for a 28-day heatmap, and a join (not a message).
	for i := range 3 {
		evs = append(evs, g.ev(events.KindMessage, "1", dayAt(0, i)))
	}
	evs = append(evs, g.ev(events.KindMessage, "2", dayAt(-1, 0)), g.ev(events.KindMessage, "2", dayAt(-40, 0)), g.ev(events.KindJoin, "3", dayAt(0, 5)))
	apply(t, b, evs...)
	ctx := context.Background()
	q := b.Query()
	gs, err := q.Groups(ctx)
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups %v, %v", gs, err)
	}
	if gs[0].Chat != g.group.ID {
		t.Errorf("group chat id %q, want %q", gs[0].Chat, g.group.ID)
	}
	hours, err := q.GroupHours(ctx, gs[0].Token, 28)
	if err != nil {
		t.Fatal(err)
	}
	how := func(at time.Time) int {
		l := at.In(paris)
		return (int(l.Weekday())+6)%7*24 + l.Hour()
	}
	want := HoursOfWeek{}
	want[how(dayAt(0, 0))] += 3
	want[how(dayAt(-1, 0))]++
	if hours != want {
		var got []int
		for i, n := range hours {
			if n > 0 {
				got = append(got, i, n)
			}
		}
		t.Errorf("hours (index, count) %v; want 3 at %d and 1 at %d", got, how(dayAt(0, 0)), how(dayAt(-1, 0)))
	}
	days, err := q.GroupDays(ctx, gs[0].Token, 3)
	if err != nil || !slices.Equal(days, []int{0, 1, 3}) {
		t.Errorf("days %v (%v), want [0 1 3]", days, err)
	}
	members, err := q.GroupMembers(ctx, gs[0].Token)
	if err != nil || len(members) != 3 {
		t.Errorf("group members %v (%v), want three", members, err)
	}
}

func TestGroupWeeklyActive(t *testing.T) {
	b := stateBridge(t, nil)
	g := newGen()
	apply(t, b,
		g.ev(events.KindMessage, "1", dayAt(0, 0)), g.ev(events.KindMessage, "1", dayAt(-1, 0)),
		g.ev(events.KindMessage, "2", dayAt(-8, 0)), g.ev(events.KindMessage, "1", dayAt(-9, 0)),
		g.ev(events.KindMessage, "3", dayAt(-20, 0)), g.ev(events.KindJoin, "4", dayAt(0, 1)))
	q := b.Query()
	gs, err := q.Groups(context.Background())
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups %v %v", gs, err)
	}
	got, err := q.GroupWeeklyActive(context.Background(), gs[0].Token, 4)
	if err != nil || !slices.Equal(got, []int{0, 1, 2, 1}) {
		t.Errorf("weekly active %v (%v), want [0 1 2 1]", got, err)
	}
}
