package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
)

// A campaign code names one organiser's campaign. When the code an organiser's /mobiliser
// derives is held by another organiser's campaign, the preview is of a new campaign of
// theirs under another code, never of the other one; and an organiser who sends, cancels
// or previews with a code that is not theirs finds nothing.
func TestCampaignCodeIsTheOrganisersOwn(t *testing.T) {
	r, _ := campaignRig(t, "fr", 2)
	ctx := context.Background()
	kv, err := r.env.JS.KeyValue(ctx, r.env.Names.CampaignsBucket())
	if err != nil {
		t.Fatal(err)
	}
	odile := oneReply(t, r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "mobiliser", "leaders\nTexte d'Odile pour samedi")))
	if len(odile.Buttons) == 0 {
		t.Fatalf("Odile's preview has no buttons: %+v", odile)
	}
	odileSlug := strings.TrimPrefix(odile.Buttons[0].Data, "/envoyer ")

	// Oscar's next /mobiliser derives a code that Odile's campaign holds already.
	text := "Réunion jeudi 19h"
	clash := commands.CampaignSlug(fmt.Sprintf("%s:test:%d", events.WhatsApp, r.nextID+1), text)
	e, err := kv.Get(ctx, events.CampaignKey(odileSlug))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	rec["slug"] = clash
	raw, _ := json.Marshal(rec)
	if _, err := kv.Put(ctx, events.CampaignKey(clash), raw); err != nil {
		t.Fatal(err)
	}
	preview := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "mobiliser", "leaders\n"+text)))
	if strings.Contains(preview.Text, "Odile") || !strings.Contains(preview.Text, text) || strings.Contains(preview.Text, clash) {
		t.Fatalf("Oscar's preview, on a code Odile's campaign holds (%s):\n%s", clash, preview.Text)
	}

	tests := []struct{ name string }{{"envoyer"}, {"annuler"}}
	for _, tt := range tests {
		got := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, tt.name, odileSlug)))
		if want := "Je ne connais pas la campagne " + odileSlug; !strings.Contains(got.Text, want) {
			t.Errorf("Oscar's %s %s answered %q, want %q", tt.name, odileSlug, got.Text, want)
		}
	}
	for _, slug := range []string{odileSlug, clash} {
		e, err := kv.Get(ctx, events.CampaignKey(slug))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(e.Value()), `"state":"draft"`) || !strings.Contains(string(e.Value()), "Odile") {
			t.Errorf("Odile's campaign %s after Oscar's commands: %s", slug, e.Value())
		}
	}
	if n := len(campaignQueue(t, r.env)); n != 0 {
		t.Errorf("%d messages queued, want none", n)
	}
}
