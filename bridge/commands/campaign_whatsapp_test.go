package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// fakeAudience returns fixed candidates for any group.
type fakeAudience struct {
	cands  []bridge.Candidate
	groups []string
	asked  [][]string
	// during, when set, runs once inside the next Audience call: what happens meanwhile.
	during func()
}

func (f *fakeAudience) Audience(_ context.Context, groups []string, _ bridge.AudienceTags, _ bridge.ContactLedger, _ int) ([]bridge.Candidate, error) {
	f.asked = append(f.asked, groups)
	if d := f.during; d != nil {
		f.during = nil
		d()
	}
	return f.cands, nil
}

func (f *fakeAudience) GroupTokens(context.Context) ([]string, error) { return f.groups, nil }

func (f *fakeAudience) Seat(context.Context, string) (bridge.Seat, error) { return bridge.Seat{}, nil }

// On WhatsApp, where there are no buttons: the preview asks for ENVOYER or ANNULER, the
// bare word confirms the organiser's latest campaign, and the member's message lists the
// answer words; the organiser's scope (allowed groups) is what the audience is asked for;
// the information notice mentions the weekly cap.
func TestCampaignOnWhatsApp(t *testing.T) {
	r := newRig(t, "fr")
	ctx := context.Background()
	leader := r.member(events.WhatsApp, waMember)
	aud := &fakeAudience{groups: []string{"g-all"}, cands: []bridge.Candidate{
		{Token: leader, Platform: events.WhatsApp, PlatformID: waMember.ID, Reach: bridge.ReachNow},
		{Token: "quiet1", Platform: events.WhatsApp, PlatformID: "33600000001@s.whatsapp.net", Reach: bridge.ReachNotConsented},
	}}
	if err := r.h.EnableCampaigns(ctx, commands.CampaignConfig{MaxPerWeek: 2, Audience: aud,
		AllowedGroups: func(context.Context, events.Platform, string) ([]string, error) { return []string{"g-mine"}, nil },
	}); err != nil {
		t.Fatal(err)
	}
	// The gate lets the leader be contacted; the fake audience stands for it here.
	if err := r.store.Set(ctx, leader, consent.Record{Status: consent.StatusYes, At: r.now}); err != nil {
		t.Fatal(err)
	}
	preview := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "mobiliser", "leaders\nRéunion jeudi 19h")))
	for _, want := range []string{"Réunion jeudi 19h", "joignables maintenant : 1", "n'ont pas dit /oui (non contactés) : 1", "Répondez ENVOYER"} {
		if !strings.Contains(preview.Text, want) {
			t.Errorf("preview lacks %q:\n%s", want, preview.Text)
		}
	}
	if len(preview.Buttons) != 0 || len(aud.asked) != 1 || len(aud.asked[0]) != 1 || aud.asked[0][0] != "g-mine" {
		t.Fatalf("buttons %v, audience asked for %v", preview.Buttons, aud.asked)
	}
	// A member cannot confirm it; the organiser's bare word does.
	if rep := oneReply(t, r.handle(r.cmd(events.WhatsApp, waMember, nil, "envoyer"))); !strings.Contains(rep.Text, "réservée aux organisateurs") {
		t.Fatalf("a member's ENVOYER got %q", rep.Text)
	}
	confirmed := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "envoyer")))
	if !strings.Contains(confirmed.Text, "1 message en cours") {
		t.Fatalf("confirmation %q", confirmed.Text)
	}
	q := campaignQueue(t, r.env)
	if len(q) != 1 || q[0].Chat != waMember.ID || len(q[0].Buttons) != 0 || !strings.Contains(q[0].Text, "Répondez 1 (Je relaie), 2 (Pas cette fois) ou 3") {
		t.Fatalf("queued %+v", q)
	}
	notice := oneReply(t, r.handle(r.cmd(events.WhatsApp, waMember, nil, "confidentialite")))
	if !strings.Contains(notice.Text, "au plus 2 appels à l'action par semaine") {
		t.Errorf("the notice does not mention the cap:\n%s", notice.Text)
	}
}

// campaignQueue reads the campaign messages waiting on the work queue (without taking them).
func campaignQueue(t *testing.T, env *eventstest.Env) []events.Reply {
	t.Helper()
	ctx := context.Background()
	s, err := env.JS.Stream(ctx, env.Names.CampaignsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Reply
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		rep, err := events.DecodeReply(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rep)
	}
	return out
}
