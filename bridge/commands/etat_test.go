package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/health"
)

// fakeEtat is what the process knows of platforms and incidents.
type fakeEtat struct {
	platforms []health.PlatformState
	sight     map[string]commands.Sight // by group token; absent: unknown here
	incidents []health.Incident
}

func (f *fakeEtat) Platforms(context.Context) []health.PlatformState { return f.platforms }
func (f *fakeEtat) Sight(_ events.Platform, group string) (commands.Sight, bool) {
	s, ok := f.sight[group]
	return s, ok
}
func (f *fakeEtat) Incidents() []health.Incident { return f.incidents }

// fakeActivity is the bridge's group event times.
type fakeActivity map[string][]time.Time

func (f fakeActivity) GroupActivity(context.Context) (map[string][]time.Time, error) { return f, nil }

// withAdmins makes only admins admins; the other organisers stay organisers.
func withAdmins(t *testing.T, list string) rigOption {
	t.Helper()
	admins, err := commands.ParseOrganisers(list)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *commands.Config, _ *rigDeps) { c.Admins = admins }
}

// TestEtat: an admin gets the state privately (the group only learns it went privately): the
// platforms, each group's last event and what relais sees there, the CRM, the incidents open
// naming their group; an organiser who is not an admin is refused and learns nothing.
func TestEtat(t *testing.T) {
	for _, lang := range []string{"fr", "en"} {
		t.Run(lang, func(t *testing.T) {
			r := newRig(t, lang, withAdmins(t, "telegram:710010701"))
			tg, wa := r.env.Hasher.Group(events.Telegram, tgGroup.ID), r.env.Hasher.Group(events.WhatsApp, waGroup.ID)
			src := &fakeEtat{
				platforms: []health.PlatformState{
					{Name: "Telegram", OK: true, State: "polling"},
					{Name: "WhatsApp", OK: true, State: "connected", Since: day0.Add(-24 * time.Hour)},
				},
				sight: map[string]commands.Sight{wa: {Messages: true, Reactions: true, Members: true}},
				incidents: []health.Incident{
					{Kind: health.TelegramGroupBlind, Subject: tg, Started: day0.Add(-3 * time.Hour)},
					{Kind: health.DiskLow, Started: day0.Add(-time.Hour)},
				},
			}
			r.h.EnableEtat(src, fakeActivity{
				tg: {day0.Add(-50 * time.Hour), day0.Add(-2 * time.Hour)},
				wa: {day0.Add(-26 * time.Hour)},
			})
			name := map[string]string{"fr": "etat", "en": "status"}[lang]

			rs := r.handle(r.cmd(events.Telegram, tgOrganiser, tgGroup, name))
			if len(rs) != 2 {
				t.Fatalf("%d replies, want the state privately and a note in the group: %+v", len(rs), rs)
			}
			got := rs[0]
			if !got.Private || got.Chat != tgOrganiser.ID || rs[1].Chat != tgGroup.ID || rs[1].Private {
				t.Fatalf("state sent to %q (private %v), note to %q: want privately to the admin", got.Chat, got.Private, rs[1].Chat)
			}
			want := map[string][]string{
				"fr": {"📋 État de relais", "✅ Telegram : polling", "✅ WhatsApp : connected (depuis 2026-03-13 09:30 UTC)",
					"• Lyon 3e entraide (Telegram) : dernier événement il y a 2 h 00 min ; voit rien",
					"• Marseille quartiers nord (WhatsApp) : dernier événement il y a 26 h 00 min ; voit messages, réactions, membres",
					"• en attente : 3", "✅ dernier envoi réussi il y a 10 min",
					"⚠️ " + health.TelegramGroupBlind.Text("fr") + " (Lyon 3e entraide) — depuis 2026-03-14 06:30 UTC",
					"⚠️ " + health.DiskLow.Text("fr") + " — depuis 2026-03-14 08:30 UTC"},
				"en": {"📋 relais status", "✅ Telegram: polling",
					"• Lyon 3e entraide (Telegram): last event 2 h 00 min ago; sees nothing",
					"• Marseille quartiers nord (WhatsApp): last event 26 h 00 min ago; sees messages, reactions, members",
					"• waiting: 3", "⚠️ " + health.TelegramGroupBlind.Text("en") + " (Lyon 3e entraide)"},
			}[lang]
			for _, w := range want {
				if !strings.Contains(got.Text, w) {
					t.Errorf("state lacks %q:\n%s", w, got.Text)
				}
			}

			// An organiser who is not an admin: refused, nothing of the state.
			refused := oneReply(t, r.handle(r.cmd(events.WhatsApp, waOrganiser, nil, name)))
			if refused.Text != r.cat.Refused || strings.Contains(refused.Text, tgGroup.Title) {
				t.Errorf("a non-admin organiser got %q, want the refusal", refused.Text)
			}
		})
	}
}

// TestEtatWithoutSources: a platform down leaves its groups seeing nothing; a group the bot
// was removed from sees nothing; a group never heard from says so; no CRM worker here, no
// incident source: the screen still answers.
func TestEtatWithoutSources(t *testing.T) {
	r := newRig(t, "fr", withoutSync())
	tg := r.env.Hasher.Group(events.Telegram, tgGroup.ID)
	r.h.EnableEtat(&fakeEtat{
		platforms: []health.PlatformState{{Name: "Telegram", OK: false, State: "token_refused"}, {Name: "WhatsApp", OK: true, State: "connected"}},
	}, fakeActivity{tg: {day0.Add(-time.Hour)}})
	snap, err := r.h.EtatSnapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Groups) != 2 || snap.CRM.Configured {
		t.Fatalf("snapshot %+v", snap)
	}
	for _, g := range snap.Groups {
		switch g.Platform {
		case "Telegram":
			if g.Messages || g.Reactions || g.Members || !g.LastEvent.Equal(day0.Add(-time.Hour)) {
				t.Errorf("Telegram group while Telegram is down: %+v", g)
			}
		case "WhatsApp":
			if !g.Messages || !g.Reactions || !g.Members || !g.LastEvent.IsZero() {
				t.Errorf("WhatsApp group, never heard from: %+v", g)
			}
		}
	}
	text := health.RenderEtat(snap, "fr")
	for _, w := range []string{"❌ Telegram : token_refused", "dernier événement jamais", "non configuré", "Incidents ouverts\n• aucun"} {
		if !strings.Contains(text, w) {
			t.Errorf("state lacks %q:\n%s", w, text)
		}
	}
}
