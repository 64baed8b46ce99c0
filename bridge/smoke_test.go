package bridge

import (
	"context"
	"testing"

	"github.com/relais-bot/relais/events"
)

func TestApplyBasics(t *testing.T) {
	b := stateBridge(t, nil)
	g := newGen()
	var evs []events.Event
	join := g.ev(events.KindJoin, "1", dayAt(-2, 0))
	evs = append(evs, join)
	for d := -2; d <= 0; d++ {
		for i := range 4 {
			evs = append(evs, g.ev(events.KindMessage, "1", dayAt(d, i)))
		}
	}
	r := g.ev(events.KindMessage, "2", dayAt(0, 10))
	r.ReplyTo = "1"
	r.Mentions = []string{"@user1", "3"}
	evs = append(evs, r)
	react := g.ev(events.KindReaction, "3", dayAt(0, 11))
	react.Target = evs[1].ID
	evs = append(evs, react)
	apply(t, b, evs...)
	apply(t, b, evs...) // again: nothing changes

	c := card(t, b, "1")
	// Interactions received: 2's reply that also mentions them (one event), 3's reaction.
	if c.Messages != 12 || c.ActiveDays != 3 || c.People != 2 || c.RepliesReceived != 2 {
		t.Errorf("card: %+v", c)
	}
	want := []string{"relais-actif", "relais-groupe-entraide-belleville", "relais-nouveau"}
	if !equal(c.Tags, want) {
		t.Errorf("tags %v, want %v", c.Tags, want)
	}
	gs, err := b.Query().Groups(context.Background())
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups %v %v", gs, err)
	}
	if gs[0].MembersSeen != 3 || gs[0].Active7 != 2 || gs[0].MessagesPerDay[13] != 5 {
		t.Errorf("group %+v", gs[0])
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
