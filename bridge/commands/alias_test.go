package commands_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// TestOnePersonOneMemberOnWhatsApp follows one person WhatsApp knows by phone number first
// (a phone-addressed group, before the LID mapping is learned), then by LID with the phone as
// alias: relais keeps one member, the CRM gets one contact, a /stop under either id stops
// both, and a rebuild from the log gives the same state as the live run.
func TestOnePersonOneMemberOnWhatsApp(t *testing.T) {
	s := newStack(t, consent.PolicyOptIn)
	ctx := context.Background()
	group := &events.Group{ID: "120363000000000777@g.us", Title: "Marseille entraide"}
	pn := events.Member{ID: "33600000001@s.whatsapp.net", Name: "Zoé Canari", Phone: "+33600000001"}
	lid := events.Member{ID: "987650001@lid", Name: "Zoé Canari", Phone: "+33600000001", Alias: pn.ID}
	n := 0
	ev := func(from events.Member, kind events.Kind, at time.Time, g *events.Group) events.Event {
		n++
		return events.Event{V: events.Version, ID: fmt.Sprintf("whatsapp:%d", n), Kind: kind, Platform: events.WhatsApp,
			At: at, Group: g, Sender: from, Chars: 12}
	}
	neighbour := func(i int) events.Member {
		return events.Member{ID: fmt.Sprintf("3361100000%d@s.whatsapp.net", i), Name: fmt.Sprintf("Voisin Numero%d", i)}
	}
	var evs []events.Event
	for d := 6; d >= 4; d-- { // phone id only
		at := e2eNow.AddDate(0, 0, -d)
		for i := range 2 {
			evs = append(evs, ev(pn, events.KindMessage, at.Add(time.Duration(i)*time.Minute), group))
		}
		r := ev(neighbour(d), events.KindMessage, at.Add(10*time.Minute), group)
		r.ReplyTo = pn.ID
		evs = append(evs, r)
	}
	for d := 3; d >= 1; d-- { // LID known, phone as alias
		at := e2eNow.AddDate(0, 0, -d)
		for i := range 2 {
			evs = append(evs, ev(lid, events.KindMessage, at.Add(time.Duration(i)*time.Minute), group))
		}
		r := ev(neighbour(d), events.KindMessage, at.Add(10*time.Minute), group)
		r.ReplyTo = lid.ID
		evs = append(evs, r)
	}
	s.publish(evs...)

	tokLID := s.env.Hasher.Member(events.WhatsApp, lid.ID)
	tokPN := s.env.Hasher.Member(events.WhatsApp, pn.ID)
	q := s.bridge.Query()
	card, found, err := q.Member(ctx, tokLID)
	if err != nil || !found {
		t.Fatalf("no member under the LID: %v", err)
	}
	if card.Messages != 12 || card.People != 6 || card.ActiveDays != 6 {
		t.Errorf("merged member %d messages, %d people, %d days; want 12, 6, 6 (both ids together)", card.Messages, card.People, card.ActiveDays)
	}
	if _, found, _ := q.Member(ctx, tokPN); found {
		t.Error("the phone id is still a member of its own")
	}
	gs, _ := q.Groups(ctx)
	if len(gs) != 1 || gs[0].MembersSeen != 7 {
		t.Errorf("group %+v, want 7 people seen (the person once, six neighbours)", gs)
	}

	// A /oui in private, under the LID: one contact in the CRM, with the phone.
	yes := ev(lid, events.KindCommand, e2eNow.Add(-time.Hour), nil)
	yes.Command = &events.Command{Name: "oui"}
	s.publish(yes)
	c, found, _ := s.env.Pub.LastContactChange(ctx, tokLID)
	if !found || c.Op != events.OpUpsert || c.Phone != "+33600000001" {
		t.Errorf("contact under the LID %+v, want an upsert with the phone", c)
	}
	if c, found, _ := s.env.Pub.LastContactChange(ctx, tokPN); found && c.Op != events.OpErase {
		t.Errorf("a second contact under the phone id: %+v", c)
	}

	// Live and rebuilt state agree, the merge included.
	rebuilt := func() map[string]bridge.MemberCard {
		rdb2, prefix2 := bridgetest.Redis(t)
		b2 := s.newBridge(rdb2, prefix2, nil)
		if err := b2.Replay(ctx, time.Time{}); err != nil {
			t.Fatal(err)
		}
		return cards(t, b2.Query(), tokLID, tokPN, neighbourTokens(s, neighbour)...)
	}
	live := cards(t, q, tokLID, tokPN, neighbourTokens(s, neighbour)...)
	if replayed := rebuilt(); !reflect.DeepEqual(live, replayed) {
		t.Errorf("live and replayed state differ:\nlive   %+v\nreplay %+v", live, replayed)
	}

	// A /stop sent from a chat that only knows the phone id stops the one member.
	stop := ev(pn, events.KindCommand, e2eNow.Add(-30*time.Minute), nil)
	stop.Command = &events.Command{Name: "stop"}
	s.publish(stop)
	if _, found, _ := q.Member(ctx, tokLID); found {
		t.Error("after /stop under the phone id, the member is still shown")
	}
	later := ev(pn, events.KindMessage, e2eNow.Add(-10*time.Minute), group)
	s.publish(later, ev(lid, events.KindMessage, e2eNow.Add(-9*time.Minute), group))
	for _, tok := range []string{tokLID, tokPN} {
		if _, found, _ := q.Member(ctx, tok); found {
			t.Errorf("after /stop a message brought back %s", tok)
		}
	}
	if c, _, _ := s.env.Pub.LastContactChange(ctx, tokLID); !c.DoNotContact {
		t.Errorf("contact after /stop %+v, want do-not-contact", c)
	}
	live = cards(t, q, tokLID, tokPN, neighbourTokens(s, neighbour)...)
	if replayed := rebuilt(); !reflect.DeepEqual(live, replayed) {
		t.Errorf("after /stop, live and replayed state differ:\nlive   %+v\nreplay %+v", live, replayed)
	}
}

func neighbourTokens(s *stack, neighbour func(int) events.Member) []string {
	var out []string
	for d := 1; d <= 6; d++ {
		out = append(out, s.env.Hasher.Member(events.WhatsApp, neighbour(d).ID))
	}
	return out
}

// cards reads members' cards by token; absent members map to a zero card.
func cards(t *testing.T, q *bridge.Query, first, second string, rest ...string) map[string]bridge.MemberCard {
	t.Helper()
	out := map[string]bridge.MemberCard{}
	for _, tok := range append([]string{first, second}, rest...) {
		c, _, err := q.Member(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		out[tok] = c
	}
	return out
}
