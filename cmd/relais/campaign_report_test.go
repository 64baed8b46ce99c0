package main

import (
	"fmt"
	"strings"
	"testing"
)

// A recipient's /stop after the whole campaign went out deletes their delivery record, not
// what the campaign counted: /campagne still says every message was sent and none is queued,
// /campagnes says the same, and the next campaign's preview counts the objector among the
// leaders it asks for, as objected, without naming them.
func TestCampaignReportAddsUpAfterStop(t *testing.T) {
	r := newCampaignRig(t)
	p := r.start()
	r.conversation()
	r.quiet(p)

	r.ask(p, "/mobiliser leaders dans Entraide Belleville\n"+r.campaignText)
	send := button(t, r.lastTo(r.organiser.ID), "/envoyer ")
	slug := strings.TrimPrefix(send, "/envoyer ")
	r.press(p, r.organiser, send)
	r.eventually(p, "the campaign delivered", func() bool { return len(r.campaignMessages(r.campaignText)) == len(r.reachable) })
	r.quiet(p)
	all := fmt.Sprintf("Envoyés : %d · en file : 0 ·", len(r.reachable))
	if detail := r.ask(p, "/campagne "+slug); !strings.Contains(detail, all) {
		t.Fatalf("/campagne before the objection lacks %q:\n%s", all, detail)
	}

	quitter := r.reachable[len(r.reachable)-1]
	r.bot.Text(r.group, quitter, "/stop")
	r.quiet(p)

	tests := []struct{ ask, want string }{
		{"/campagne " + slug, all},
		{"/campagnes", fmt.Sprintf("%s (", slug)},
		{"/campagnes", fmt.Sprintf(" : envoyés %d, échecs 0, bloqués 0", len(r.reachable))},
	}
	for _, tt := range tests {
		if got := r.ask(p, tt.ask); !strings.Contains(got, tt.want) {
			t.Errorf("%s after a recipient's /stop lacks %q:\n%s", tt.ask, tt.want, got)
		}
	}

	preview := r.ask(p, "/mobiliser leaders dans Entraide Belleville\n"+r.secondCampaignTxt)
	for _, want := range []string{
		fmt.Sprintf("joignables maintenant : %d", len(r.reachable)-1),
		"opposés (non contactés) : 1",
	} {
		if !strings.Contains(preview, want) {
			t.Errorf("the preview after a leader's /stop lacks %q:\n%s", want, preview)
		}
	}
	if strings.Contains(preview, quitter.FirstName) {
		t.Errorf("the preview names the objector:\n%s", preview)
	}
	r.stop(p)
	for _, l := range r.leaks(quitter.FirstName) {
		if strings.Contains(l, "the logs") {
			t.Error(l)
		}
	}
}
