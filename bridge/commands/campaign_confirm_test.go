package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// campaignRig is a handler with campaigns on, over a fake audience of one consenting,
// reachable WhatsApp leader.
func campaignRig(t *testing.T, lang string, perWeek int) (*rig, *fakeAudience) {
	t.Helper()
	r := newRig(t, lang)
	ctx := context.Background()
	leader := r.member(events.WhatsApp, waMember)
	aud := &fakeAudience{groups: []string{"g-all"}, cands: []bridge.Candidate{
		{Token: leader, Platform: events.WhatsApp, PlatformID: waMember.ID, Reach: bridge.ReachNow},
	}}
	if err := r.h.EnableCampaigns(ctx, commands.CampaignConfig{MaxPerWeek: perWeek, Audience: aud}); err != nil {
		t.Fatal(err)
	}
	if err := r.store.Set(ctx, leader, consent.Record{Status: consent.StatusYes, At: r.now}); err != nil {
		t.Fatal(err)
	}
	return r, aud
}

// A second press of Envoyer, while the first is queueing or after, says the campaign is
// already confirmed: only the press that confirmed it says "confirmée", and nobody is
// queued twice.
func TestCampaignSecondSendSaysAlreadyConfirmed(t *testing.T) {
	tests := []struct {
		lang, confirmed, already string
	}{
		{"fr", "confirmée : 1 message en cours", "déjà confirmée"},
		{"en", "confirmed: 1 message being sent", "already confirmed"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			r, aud := campaignRig(t, tt.lang, 2)
			oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "mobiliser", "leaders\nRéunion jeudi 19h")))
			var during []events.Reply
			aud.during = func() {
				// The second press arrives while the first is still queueing.
				during = r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "envoyer"))
			}
			first := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "envoyer")))
			if !strings.Contains(first.Text, tt.confirmed) {
				t.Fatalf("the first press answered %q, want %q", first.Text, tt.confirmed)
			}
			if got := oneReply(t, during); !strings.Contains(got.Text, tt.already) {
				t.Errorf("a press during the confirmation answered %q, want %q", got.Text, tt.already)
			}
			if got := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "envoyer"))); !strings.Contains(got.Text, tt.already) {
				t.Errorf("a press after the confirmation answered %q, want %q", got.Text, tt.already)
			}
			if n := len(campaignQueue(t, r.env)); n != 1 {
				t.Errorf("%d messages queued, want 1", n)
			}
		})
	}
}
