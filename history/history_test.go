package history_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/history"
)

// split cuts a conversation where live listening began: the last day is live.
func split(c *conversation) (hist, tail *conversation) {
	hist, tail = &conversation{users: c.users}, &conversation{users: c.users}
	for _, m := range c.msgs {
		if m.at.Before(now.Add(-36 * time.Hour)) {
			hist.msgs = append(hist.msgs, m)
		} else {
			tail.msgs = append(tail.msgs, m)
		}
	}
	return hist, tail
}

// TestImportEqualsLive plays one conversation live on one stack and, on another, live only
// from its last day with the rest imported from a Telegram export that holds the whole of it
// (the export was made after relais joined): every member's card (tags, leaders, /fiche
// figures) and the group's figures are the same. The import publishes at most one contact
// change per member, once it is done.
func TestImportEqualsLive(t *testing.T) {
	c := makeConversation(25)
	hist, tail := split(c)
	if len(hist.msgs) == 0 || len(tail.msgs) == 0 {
		t.Fatal("the conversation must have a history and a live part")
	}

	live := newStack(t, consent.PolicyNotice)
	live.live(c.updates()...)

	imp := newStack(t, consent.PolicyNotice)
	imp.live(tail.updates()...)
	before := imp.crmChanges()
	rep, err := imp.importFiles(history.Options{}, file("result.json", c.export()))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if len(rep.Groups) != 1 || rep.Groups[0].Messages != len(hist.msgs) {
		t.Fatalf("report %+v, want %d messages of one group", rep.Groups, len(hist.msgs))
	}
	if g := rep.Groups[0]; !g.Last.Before(tail.msgs[0].at) || g.Published == 0 {
		t.Errorf("import went past where live began, or published nothing: %+v", g)
	}

	a, ag := live.snapshot(c.users)
	b, bg := imp.snapshot(c.users)
	tags := map[string]int{}
	for _, uid := range c.users {
		if !reflect.DeepEqual(a[uid], b[uid]) {
			t.Errorf("member %d:\n live   %+v\n import %+v", uid, a[uid], b[uid])
		}
		for _, tag := range a[uid].Tags {
			tags[tag]++
		}
	}
	if !reflect.DeepEqual(ag, bg) {
		t.Errorf("groups:\n live   %+v\n import %+v", ag, bg)
	}
	if tags["relais-leader"] == 0 || tags["relais-actif"] == 0 {
		t.Fatalf("nothing to compare: tags %v", tags)
	}

	after := imp.crmChanges()
	changed := 0
	for subj, n := range after {
		if d := n - before[subj]; d > 1 {
			t.Errorf("%s: %d contact changes from one import, want at most 1", subj, d)
		} else if d == 1 {
			changed++
		}
	}
	if changed == 0 {
		t.Error("the import changed no contact: the test proves nothing")
	}
}

// TestImportTwiceChangesNothing imports the same export twice: the second finds every event
// at or after the oldest the first brought, publishes nothing and changes no card.
func TestImportTwiceChangesNothing(t *testing.T) {
	c := makeConversation(10)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()...)
	first, err := s.importFiles(history.Options{}, file("result.json", c.export()))
	if err != nil {
		t.Fatal(err)
	}
	if first.Groups[0].Published == 0 {
		t.Fatal("the first import published nothing")
	}
	cards, groups := s.snapshot(c.users)
	msgs := s.env.StreamMsgs(t, s.env.Names.EventsStream())
	crm := s.crmChanges()
	second, err := s.importFiles(history.Options{}, file("result.json", c.export()))
	if err != nil {
		t.Fatal(err)
	}
	if g := second.Groups[0]; g.Published != 0 || g.Messages != 0 {
		t.Errorf("second import: %+v, want nothing imported", g)
	}
	cards2, groups2 := s.snapshot(c.users)
	for uid, c := range cards {
		if !reflect.DeepEqual(c, cards2[uid]) {
			t.Errorf("a second import changed member %d:\n before %+v\n after  %+v", uid, c, cards2[uid])
		}
	}
	if !reflect.DeepEqual(groups, groups2) {
		t.Errorf("a second import changed the groups:\n before %+v\n after  %+v", groups, groups2)
	}
	// Nothing new in the log (not even an end marker); no contact change moved.
	if got := s.env.StreamMsgs(t, s.env.Names.EventsStream()); got != msgs {
		t.Errorf("log grew from %d to %d messages", msgs, got)
	}
	for subj, n := range s.crmChanges() {
		if d := n - crm[subj]; d != 0 {
			t.Errorf("%s: %d contact changes from a second import, want none", subj, d)
		}
	}
}

// TestImportOptInNeedsYes: under opt-in, imported members earn their tags but none reaches
// the CRM without /oui.
func TestImportOptInNeedsYes(t *testing.T) {
	c := makeConversation(20)
	_, tail := split(c)
	s := newStack(t, consent.PolicyOptIn)
	s.live(tail.updates()[:1]...)
	if _, err := s.importFiles(history.Options{}, file("result.json", c.export())); err != nil {
		t.Fatal(err)
	}
	cards, _ := s.snapshot(c.users)
	tagged := 0
	for _, card := range cards {
		if slices.Contains(card.Tags, "relais-actif") {
			tagged++
		}
	}
	if tagged == 0 {
		t.Fatal("nobody earned a tag: the test proves nothing")
	}
	for subj, n := range s.crmChanges() {
		t.Errorf("%s: %d contact changes under opt-in without /oui", subj, n)
	}
}

// TestImportKeepsErasedOut: a member erased before the import is not brought back: none of
// their events is stored, and they have no card.
func TestImportKeepsErasedOut(t *testing.T) {
	c := makeConversation(10)
	_, tail := split(c)
	s := newStack(t, consent.PolicyNotice)
	s.live(tail.updates()[:1]...)
	gone := c.users[3]
	if err := s.store.Set(context.Background(), s.token(gone), consent.Record{Status: consent.StatusErased, At: now}); err != nil {
		t.Fatal(err)
	}
	waitSuppressed(t, s, s.token(gone))
	rep, err := s.importFiles(history.Options{}, file("result.json", c.export()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Groups[0].Suppressed == 0 {
		t.Fatal("the erased member sent nothing: the test proves nothing")
	}
	if _, found, _ := s.bridge.Query().Member(context.Background(), s.token(gone)); found {
		t.Error("the erased member has a card again")
	}
	if n := s.memberEvents(s.token(gone)); n != 0 {
		t.Errorf("%d events of the erased member in the log", n)
	}
}

func waitSuppressed(t *testing.T, s *stack, tok string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(s.store.Suppressed(), tok) {
		if time.Now().After(deadline) {
			t.Fatal("consent store never saw the erasure")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestImportRefusesUnknownGroup: a group relais holds no live event of is refused by name,
// and nothing is stored.
func TestImportRefusesUnknownGroup(t *testing.T) {
	c := makeConversation(3)
	s := newStack(t, consent.PolicyNotice)
	before := s.env.StreamMsgs(t, s.env.Names.EventsStream())
	_, err := s.importFiles(history.Options{}, file("result.json", c.export()))
	if !errors.Is(err, history.ErrNoGroup) || !strings.Contains(err.Error(), chatTitle) {
		t.Fatalf("err = %v, want ErrNoGroup naming %q", err, chatTitle)
	}
	if got := s.env.StreamMsgs(t, s.env.Names.EventsStream()); got != before {
		t.Errorf("log went from %d to %d messages", before, got)
	}
}
