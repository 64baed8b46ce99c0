package commands_test

import (
	"strings"
	"testing"

	"github.com/relais-bot/relais/events"
)

// A recipient who objects while their message still waits in the queue is taken off it and
// counted as withdrawn: the report then has nothing left in the queue, in either language.
func TestCampaignReportCountsWithdrawnRecipients(t *testing.T) {
	tests := []struct{ lang, cmd, want string }{
		{"fr", "campagne", "Envoyés : 0 · en file : 0 · échecs : 0 · bloqués : 0 · interrompus : 0 · retirés avant l'envoi : 1"},
		{"en", "campaign", "Sent: 0 · queued: 0 · failed: 0 · blocked: 0 · interrupted: 0 · withdrawn before sending: 1"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			r, _ := campaignRig(t, tt.lang, 2)
			oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "mobiliser", "leaders\nRéunion jeudi 19h")))
			confirmed := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "envoyer")))
			slug := ""
			for _, w := range strings.Fields(confirmed.Text) {
				if strings.HasPrefix(w, "reunion-jeudi-") {
					slug = w
					break
				}
			}
			if slug == "" || len(campaignQueue(t, r.env)) != 1 {
				t.Fatalf("confirmation %q, %d queued", confirmed.Text, len(campaignQueue(t, r.env)))
			}
			r.handle(r.cmd(events.WhatsApp, waMember, waGroup, "stop"))
			if n := len(campaignQueue(t, r.env)); n != 0 {
				t.Fatalf("%d messages still queued after the recipient's /stop", n)
			}
			if got := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, tt.cmd, slug))); !strings.Contains(got.Text, tt.want) {
				t.Errorf("the report lacks %q:\n%s", tt.want, got.Text)
			}
		})
	}
}
