package main

import (
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events/embedded"
	incident "github.com/relais-bot/relais/health"
)

// Through the real binary and the fake Bot API: after a message in a group and the bot
// demoted to a plain member there (privacy mode on: it can no longer read it), an admin's
// /etat names the platform, the group with its last event and what relais sees there, and
// the incident open; an organiser who is not an admin is refused. The admin was also told
// of the incident itself, privately.
func TestRunEtatForAdmins(t *testing.T) {
	bin := buildRelais(t)
	bot := tgtest.New(t)
	srv, err := embedded.StartNATS(embedded.Options{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	admin := tgtest.User{ID: 7001, FirstName: "Camille"}
	organiser := tgtest.User{ID: 7002, FirstName: "Odile"}
	addr := freeAddr(t)
	p := startRelais(t, bin, []string{
		"RELAIS_DATA_DIR=" + t.TempDir(), "RELAIS_HTTP_ADDR=" + addr, "RELAIS_SECRET=relais-test-secret-0123456789",
		"NATS_URL=" + srv.URL(), "TELEGRAM_TOKEN=" + bot.Token(), "TELEGRAM_API_ENDPOINT=" + bot.Endpoint(),
		"RELAIS_ALERT_AFTER=2s", "RELAIS_ADMINS=telegram:7001", "RELAIS_ORGANISERS=telegram:7002",
	}, "run")
	waitReady(t, p, addr, 30*time.Second)

	group := tgtest.Supergroup(-1001234, "Entraide Belleville")
	member := tgtest.User{ID: 8001, FirstName: "Sam"}
	bot.Text(group, member, "bonjour à tous")
	blind := incident.TelegramGroupBlind.Text("fr")
	waitSent := func(what string, chat int64, ok func(string) bool) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			for _, m := range bot.Sent() {
				if m.ChatID == chat && ok(m.Text) {
					return m.Text
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not sent; sent %+v\n%s", what, bot.Sent(), p.Logs())
			}
		}
	}
	// The message is counted before the bot loses sight of the group: /etat shows it.
	counted := func() bool {
		for _, m := range bot.Sent() {
			if m.ChatID == admin.ID && strings.Contains(m.Text, "Entraide Belleville (Telegram)") &&
				!strings.Contains(m.Text, "dernier événement jamais") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(30 * time.Second); !counted(); {
		if time.Now().After(deadline) {
			t.Fatalf("/etat never showed the group's last event; sent %+v\n%s", bot.Sent(), p.Logs())
		}
		bot.Text(tgtest.Private(admin), admin, "/etat")
		time.Sleep(time.Second)
	}
	bot.MyChatMember(group, admin, "administrator", "member")
	waitSent("the incident told to the admin", admin.ID, func(s string) bool { return strings.HasPrefix(s, "⚠️ "+blind) })

	before := len(bot.Sent())
	bot.Text(tgtest.Private(admin), admin, "/etat")
	state := waitSent("/etat with the incident", admin.ID, func(s string) bool {
		return strings.HasPrefix(s, "📋 État de relais") && strings.Contains(s, blind+" (Entraide Belleville)")
	})
	for _, w := range []string{"✅ Telegram : polling", "Entraide Belleville (Telegram) : dernier événement", "voit rien", "CRM\n• en attente : "} {
		if !strings.Contains(state, w) {
			t.Errorf("/etat lacks %q:\n%s", w, state)
		}
	}
	if strings.Contains(state, "dernier événement jamais") {
		t.Errorf("/etat says the group never had an event:\n%s", state)
	}
	if len(bot.Sent()) <= before {
		t.Fatal("no answer to /etat")
	}

	bot.Text(tgtest.Private(organiser), organiser, "/etat")
	refusal := waitSent("the organiser's answer", organiser.ID, func(string) bool { return true })
	if strings.Contains(refusal, "Entraide") || strings.Contains(refusal, "État de relais") {
		t.Errorf("an organiser who is not an admin got the state: %q", refusal)
	}
}
