package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
)

// The weekly cap counts any 7 days from the times messages were queued, not a calendar
// week: two campaigns on Sunday leave none for Monday, and one a week later only once the
// first is 7 days old.
func TestCampaignCapCountsAnySevenDays(t *testing.T) {
	sunday := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		at     time.Time
		queued bool
	}{
		{sunday, true},
		{sunday.Add(time.Hour), true},
		{sunday.Add(23 * time.Hour), false},                  // Monday: a new ISO week, the same 7 days
		{sunday.Add(7*24*time.Hour - time.Minute), false},    // both Sunday's still within 7 days
		{sunday.Add(7*24*time.Hour + 30*time.Minute), true},  // the first is 7 days old
		{sunday.Add(7*24*time.Hour + 45*time.Minute), false}, // the second is not
		{sunday.Add(8*24*time.Hour + 2*time.Hour), true},     // both are
	}
	r, _ := campaignRig(t, "fr", 2)
	for i, tt := range tests {
		r.now = tt.at
		text := "Campagne numéro " + string(rune('a'+i))
		oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "mobiliser", "leaders\n"+text)))
		confirmed := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, "envoyer")))
		got := strings.Contains(confirmed.Text, "confirmée : 1 message en cours")
		if got != tt.queued {
			t.Errorf("campaign %d on %s: queued %v, want %v (%q)", i, tt.at.Format("Mon 02 15:04"), got, tt.queued, confirmed.Text)
		}
	}
}
