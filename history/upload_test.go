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
