package health

import (
	"strings"
	"testing"
	"time"
)

func TestRenderEtat(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	snap := Snapshot{
		At: at,
		Platforms: []PlatformState{
			{Name: "Telegram", OK: true, State: "polling"},
			{Name: "WhatsApp", OK: false, State: "logged_out", Since: at.Add(-2 * time.Hour)},
		},
		Groups: []GroupState{
			{Label: "Nord", Platform: "Telegram", LastEvent: at.Add(-5 * time.Minute), Messages: true, Reactions: true, Members: true},
			{Label: "Sud", Platform: "WhatsApp"},
		},
		CRM:       CRMState{Configured: true, Pending: 12, LastError: "push signup: HTTP 503", LastErrorAt: at.Add(-time.Minute), LastSuccess: at.Add(-time.Hour)},
		Incidents: []Incident{{Kind: WhatsAppLoggedOut, Subject: "whatsapp", Started: at.Add(-2 * time.Hour)}},
	}
	tests := map[string]string{
		"fr": `📋 État de relais

Plateformes
✅ Telegram : polling
❌ WhatsApp : logged_out (depuis 2026-12-07 08:00 UTC)

Groupes
• Nord (Telegram) : dernier événement il y a 5 min ; voit messages, réactions, membres
• Sud (WhatsApp) : dernier événement jamais ; voit rien

CRM
• en attente : 12
❌ dernière erreur : push signup: HTTP 503 (il y a 1 min)

Incidents ouverts
⚠️ WhatsApp a déconnecté relais (appareil délié ou banni) : relancez l'appairage. — depuis 2026-12-07 08:00 UTC`,
		"en": `📋 relais status

Platforms
✅ Telegram: polling
❌ WhatsApp: logged_out (since 2026-12-07 08:00 UTC)

Groups
• Nord (Telegram): last event 5 min ago; sees messages, reactions, members
• Sud (WhatsApp): last event never; sees nothing

CRM
• waiting: 12
❌ last error: push signup: HTTP 503 (1 min ago)

Open incidents
⚠️ WhatsApp logged relais out (device unlinked or banned): pair again. — since 2026-12-07 08:00 UTC`,
	}
	for lang, want := range tests {
		if got := RenderEtat(snap, lang); got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", lang, got, want)
		}
	}
	empty := RenderEtat(Snapshot{At: at}, "fr")
	for _, part := range []string{"• aucune", "non configuré", "Incidents ouverts\n• aucun"} {
		if !strings.Contains(empty, part) {
			t.Errorf("empty snapshot lacks %q:\n%s", part, empty)
		}
	}
}
