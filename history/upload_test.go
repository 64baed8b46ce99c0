package history_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// TestUploadNamesLeadersInScope: an organiser's upload, held in memory, is imported only
// into their groups and answered with the leaders found there; a group outside their scope
// is refused and nothing is stored; a file over the limit is refused before anything.
func TestUploadNamesLeadersInScope(t *testing.T) {
	c := makeConversation(20)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	raw := c.export()

	if _, err := history.ReadUpload(bytes.NewReader(raw), "result.json", int64(len(raw)-1)); !errors.Is(err, history.ErrUploadTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	f, err := history.ReadUpload(bytes.NewReader(raw), "result.json", 20<<20)
	if err != nil {
		t.Fatal(err)
	}
	before := s.env.StreamMsgs(t, s.env.Names.EventsStream())
	outside := func(events.Platform, string) bool { return false }
	_, err = s.importer().Upload(context.Background(), f, history.Options{Now: now, Scope: outside}, s.bridge.Query(), "relais-leader", 30*time.Second)
	if !errors.Is(err, history.ErrNoGroup) || !strings.Contains(err.Error(), "not in your groups") {
		t.Fatalf("outside the scope: %v", err)
	}
	if got := s.env.StreamMsgs(t, s.env.Names.EventsStream()); got != before {
		t.Errorf("log went from %d to %d messages", before, got)
	}

	inside := func(p events.Platform, id string) bool { return p == events.Telegram && id == "-100424242" }
	sum, err := s.importer().Upload(context.Background(), f, history.Options{Now: now, Scope: inside}, s.bridge.Query(), "relais-leader", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Applied || len(sum.Groups) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	got := sum.Leaders[sum.Groups[0].Token]
	cards, _ := s.snapshot(c.users)
	var want []string
	for _, card := range cards {
		if slices.Contains(card.Tags, "relais-leader") {
			want = append(want, card.Token)
		}
	}
	var names []string
	for _, card := range got {
		names = append(names, card.Token)
	}
	slices.Sort(want)
	slices.Sort(names)
	if len(want) == 0 || !slices.Equal(want, names) {
		t.Errorf("leaders %v, want %v", names, want)
	}
}

// TestImportEventsOfAHistorySync: events an adapter mapped from WhatsApp's history sync go
// through the same bounds: only a known group, only before live began, nothing before Since.
func TestImportEventsOfAHistorySync(t *testing.T) {
	s := newStack(t, consent.PolicyNotice)
	g := &events.Group{ID: "120363000000000001@g.us", Title: "Quartier Nord"}
	ev := func(id string, at time.Time, group *events.Group) events.Event {
		return events.Event{V: events.Version, ID: "whatsapp:120363000000000001:" + id, Kind: events.KindMessage, Platform: events.WhatsApp,
			At: at, Group: group, Sender: events.Member{ID: "33612345678@s.whatsapp.net", Name: "Alice"}, Chars: 4}
	}
	if _, err := s.env.Pub.Event(context.Background(), ev("LIVE", now.Add(-time.Hour), g)); err != nil {
		t.Fatal(err)
	}
	s.settled()
	other := &events.Group{ID: "120363999@g.us", Title: "Ailleurs"}
	rep, err := s.importer().ImportEvents(context.Background(), "sync", []events.Event{
		ev("OLD", now.AddDate(0, 0, -100), g), // before Since
		ev("A", now.AddDate(0, 0, -3), g),     // imported
		ev("B", now.AddDate(0, 0, -2), g),     // imported
		ev("AFTER", now.Add(-time.Minute), g), // after live began
		ev("X", now.AddDate(0, 0, -2), other), // unknown group
	}, history.Options{Now: now, Since: now.AddDate(0, 0, -90)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 1 || rep.Groups[0].Published != 2 || len(rep.Refused) != 1 || !strings.Contains(rep.Refused[0], "Ailleurs") {
		t.Fatalf("report %+v", rep)
	}
	s.settled()
	card, found, err := s.bridge.Query().Member(context.Background(), s.env.Hasher.Member(events.WhatsApp, "33612345678@s.whatsapp.net"))
	if err != nil || !found || card.Messages != 3 {
		t.Errorf("card %+v (%v %v), want the live message and two imported", card, found, err)
	}
}
