package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
)

// TestConfirmationSkipsAMemberMarkedMeanwhile: the audience a confirmation reads may be
// older than an objection handled since (commands run off the batch loop): a member whose
// do-not-contact marker is there when the confirmation writes gets no message, and no week
// or last-campaign record is written about them.
func TestConfirmationSkipsAMemberMarkedMeanwhile(t *testing.T) {
	s := newStack(t, "opt-in")
	ctx := context.Background()
	if err := s.h.EnableCampaigns(ctx, commands.CampaignConfig{MaxPerWeek: 2, Audience: s.bridge.Query()}); err != nil {
		t.Fatal(err)
	}
	s.publish(s.conversation(3)...)
	s.publish(s.command(alice, e2eGroup, "oui"), s.privateCommand(alice, "start"))
	s.publish(s.privateCommand(campaignOrganiser, "mobiliser", "leaders\nSamedi tractage au marché"))
	s.eventually(func() bool { return s.draft() != "" })
	kv, err := s.env.JS.KeyValue(ctx, s.env.Names.CampaignsBucket())
	if err != nil {
		t.Fatal(err)
	}
	tok := s.token(alice)
	// What a /stop handled after the audience was read leaves behind first.
	if err := events.MarkDoNotContact(ctx, kv, tok, events.DoNotContactStop); err != nil {
		t.Fatal(err)
	}
	s.publish(s.privateCommand(campaignOrganiser, "envoyer", s.draft()))
	time.Sleep(200 * time.Millisecond)
	if q := s.queued(); len(q) != 0 {
		t.Fatalf("queued %d messages to a member marked do-not-contact", len(q))
	}
	for _, k := range []string{events.WeekKey(tok), events.LastCampaignKey(tok)} {
		if _, err := kv.Get(ctx, k); err == nil {
			t.Errorf("%s written about a member marked do-not-contact", k)
		}
	}
}

// TestOlderYesDoesNotUndoAnObjection: a /oui older than the member's /stop, redelivered
// after it, leaves the objection and the do-not-contact marker in place.
func TestOlderYesDoesNotUndoAnObjection(t *testing.T) {
	s := newStack(t, "opt-in")
	ctx := context.Background()
	if err := s.h.EnableCampaigns(ctx, commands.CampaignConfig{MaxPerWeek: 2, Audience: s.bridge.Query()}); err != nil {
		t.Fatal(err)
	}
	s.publish(s.conversation(2)...)
	s.publish(s.command(alice, e2eGroup, "stop"))
	late := s.command(alice, e2eGroup, "oui")
	late.At = late.At.Add(-time.Hour) // said before the /stop, delivered after it
	s.publish(late)
	kv, err := s.env.JS.KeyValue(ctx, s.env.Names.CampaignsBucket())
	if err != nil {
		t.Fatal(err)
	}
	if dnc, err := events.DoNotContact(ctx, kv, s.token(alice)); err != nil || dnc != events.DoNotContactStop {
		t.Fatalf("marker after an older /oui: %q %v, want it kept", dnc, err)
	}
	if c, ok := s.lastChange(alice); ok && !c.DoNotContact {
		t.Fatalf("contact after an older /oui: %+v, want do-not-contact kept", c)
	}
}

// TestMobiliseWaitsForAnUncheckedGroupItNames: a /mobiliser whose group name also matches a
// group the platform could not answer about makes no draft (it would be silently narrower
// than asked): the organiser is told what is missing and to try again.
func TestMobiliseWaitsForAnUncheckedGroupItNames(t *testing.T) {
	checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true, {otherGroup.ID, tgOrganiser.ID}: true},
		fail: map[string]bool{otherGroup.ID: true}}
	r := newRig(t, "en", withScopes(checker))
	a, b := r.seedScoped()
	ctx := context.Background()
	if err := r.h.EnableCampaigns(ctx, commands.CampaignConfig{MaxPerWeek: 2, Audience: &fakeAudience{groups: []string{a, b}}}); err != nil {
		t.Fatal(err)
	}
	// "en" is in both titles: "Lyon 3e entraide" and "Grenoble centre".
	text := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "mobiliser", "leaders in en\nSaturday leafleting")))
	if !strings.Contains(text, "could not tell me") || strings.Contains(text, "Saturday leafleting") {
		t.Fatalf("/mobiliser naming an unchecked group answered:\n%s", text)
	}
}
