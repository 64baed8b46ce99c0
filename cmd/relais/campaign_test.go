package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// campaignRig is a dpoRig (real binary, embedded NATS and Redis, fake Telegram and
// NationBuilder) whose group has leaders in every consent state, and a second group.
type campaignRig struct {
	*dpoRig
	other             tgtest.Chat
	reachable         []tgtest.User // said /oui and opened a private chat
	unreachable       tgtest.User   // said /oui, never wrote privately
	notConsented      tgtest.User   // never said /oui
	otherGroupLeader  tgtest.User   // /oui and private chat, but in the other group
	repliers          []tgtest.User
	campaignText      string
	secondCampaignTxt string
}

func newCampaignRig(t *testing.T) *campaignRig {
	t.Helper()
	r := &campaignRig{dpoRig: newDPORig(t, "opt-in"), other: tgtest.Supergroup(-100888, "Quartier Nord")}
	for i := range 6 {
		r.reachable = append(r.reachable, tgtest.User{ID: int64(1001 + i), FirstName: fmt.Sprintf("Relais%d", i+1)})
	}
	r.unreachable = tgtest.User{ID: 1101, FirstName: "Muette"}
	r.notConsented = tgtest.User{ID: 1102, FirstName: "Discret"}
	r.otherGroupLeader = tgtest.User{ID: 1103, FirstName: "Ailleurs"}
	r.repliers = []tgtest.User{{ID: 1201, FirstName: "Paul"}, {ID: 1202, FirstName: "Nora"}}
	r.campaignText = "Samedi tractage au marché de Belleville, 10h !"
	r.secondCampaignTxt = "Réunion publique jeudi 19h à la mairie"
	return r
}

// conversation makes every planned leader a leader (two people reply to them), and has
// them say /oui and open a private chat as planned.
func (r *campaignRig) conversation() {
	lead := func(chat tgtest.Chat, u tgtest.User) {
		id := r.bot.Text(chat, u, "Qui vient m'aider pour les courses ?")
		for _, p := range r.repliers {
			r.bot.Reply(chat, p, id, "Moi !")
		}
	}
	for _, u := range r.reachable {
		lead(r.group, u)
		r.bot.Text(r.group, u, "/oui")
		r.bot.Text(tgtest.Private(u), u, "/start")
	}
	lead(r.group, r.unreachable)
	r.bot.Text(r.group, r.unreachable, "/oui")
	lead(r.group, r.notConsented)
	lead(r.other, r.otherGroupLeader)
	r.bot.Text(r.other, r.otherGroupLeader, "/oui")
	r.bot.Text(tgtest.Private(r.otherGroupLeader), r.otherGroupLeader, "/start")
	// The organiser is in both groups, as Telegram's getChatMember says: a campaign to every
	// group of their scope reaches both.
	r.bot.SetMember(r.other, r.organiser, "member")
}

// campaignMessages counts, per chat, the messages holding text.
func (r *campaignRig) campaignMessages(text string) map[int64]int {
	out := map[int64]int{}
	for _, s := range r.bot.Sent() {
		if s.ChatID > 0 && s.ChatID != r.organiser.ID && strings.Contains(s.Text, text) {
			out[s.ChatID]++
		}
	}
	return out
}

// lastTo is the last message sent to chat.
func (r *campaignRig) lastTo(chat int64) tgtest.Sent {
	var last tgtest.Sent
	for _, s := range r.bot.Sent() {
		if s.ChatID == chat {
			last = s
		}
	}
	return last
}

// button returns the callback data of the button of msg whose data starts with prefix.
func button(t *testing.T, msg tgtest.Sent, prefix string) string {
	t.Helper()
	_, data := msg.InlineButtons()
	for _, d := range data {
		if strings.HasPrefix(d, prefix) {
			return d
		}
	}
	t.Fatalf("no %s button under %q (buttons %v)", prefix, msg.Text, data)
	return ""
}

// press presses a button in chat and waits for the answer sent there.
func (r *campaignRig) press(p *process, u tgtest.User, data string) string {
	r.t.Helper()
	before := len(r.sentTo(u.ID))
	r.bot.Press(u, 1, data)
	var got []string
	r.eventually(p, "an answer to the press of "+data, func() bool {
		got = r.sentTo(u.ID)
		return len(got) > before
	})
	return strings.Join(got[before:], "\n")
}

// A campaign to the leaders of one group reaches exactly its consenting, reachable leaders,
// once each, although relais is SIGKILLed mid-delivery and restarted; the preview counts
// every state; "Je relaie" tags the contact in the CRM; "Ne plus me solliciter" keeps the
// member out of the next campaign; a non-organiser's /mobiliser is refused.
func TestCampaignReachesConsentingLeadersOnceDespiteKill(t *testing.T) {
	r := newCampaignRig(t)
	p := r.start()
	r.conversation()
	r.quiet(p)

	refused := r.askAs(p, r.reachable[0], "/mobiliser Venez tous")
	if !strings.Contains(refused, "réservée aux organisateurs") {
		t.Fatalf("a member's /mobiliser got %q, want the refusal", refused)
	}

	preview := r.ask(p, "/mobiliser leaders dans Entraide Belleville\n"+r.campaignText)
	for _, want := range []string{r.campaignText, "joignables maintenant : 6", "injoignables (jamais écrit au bot en privé) : 1",
		"n'ont pas dit /oui (non contactés) : 1", "opposés (non contactés) : 0", "Rien n'est envoyé sans votre confirmation"} {
		if !strings.Contains(preview, want) {
			t.Fatalf("preview lacks %q:\n%s", want, preview)
		}
	}
	if n := len(r.campaignMessages(r.campaignText)); n != 0 {
		t.Fatalf("%d members got the campaign before it was confirmed", n)
	}
	send := button(t, r.lastTo(r.organiser.ID), "/envoyer ")
	slug := strings.TrimPrefix(send, "/envoyer ")

	// Each send is answered late: relais is killed while a message is out.
	r.bot.SetSendDelay(400 * time.Millisecond)
	r.bot.Press(r.organiser, 1, send)
	r.eventually(p, "half the campaign delivered", func() bool { return len(r.campaignMessages(r.campaignText)) >= 3 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	r.mu.Lock()
	r.logs = append(r.logs, p.Logs())
	r.mu.Unlock()
	r.bot.SetSendDelay(0)

	p = r.start()
	r.eventually(p, "the whole campaign delivered", func() bool { return len(r.campaignMessages(r.campaignText)) == len(r.reachable) })
	r.quiet(p)
	got := r.campaignMessages(r.campaignText)
	for _, u := range r.reachable {
		if got[u.ID] != 1 {
			t.Errorf("%s got the campaign %d times, want once", u.FirstName, got[u.ID])
		}
	}
	for _, u := range []tgtest.User{r.unreachable, r.notConsented, r.otherGroupLeader, r.repliers[0], r.repliers[1]} {
		if got[u.ID] != 0 {
			t.Errorf("%s got the campaign %d times, want never", u.FirstName, got[u.ID])
		}
	}

	// Answers: Relais1 relays, Relais2 wants no more calls.
	relay := button(t, r.lastTo(r.reachable[0].ID), "/jerelaie ")
	if ans := r.press(p, r.reachable[0], relay); !strings.Contains(ans, "vous relayez") {
		t.Fatalf("Je relaie answered %q", ans)
	}
	noMore := button(t, r.lastTo(r.reachable[1].ID), "/neplusmesolliciter ")
	if ans := r.press(p, r.reachable[1], noMore); !strings.Contains(ans, "plus d'appels") {
		t.Fatalf("Ne plus me solliciter answered %q", ans)
	}
	tag := "relais-campagne-" + slug
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, ok := r.signup(r.reachable[0])
		if ok && slices.Contains(s.Tags, tag) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the CRM: contact %+v (found %v)\n%s", tag, s, ok, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s, ok := r.signup(r.reachable[1]); ok && slices.Contains(s.Tags, tag) {
		t.Errorf("a member who did not relay carries %s", tag)
	}

	detail := r.ask(p, "/campagne "+slug)
	for _, want := range []string{"Envoyés : ", "Réponses : je relaie 1 · pas cette fois 0 · ne plus solliciter 1", "Relaient :", "Relais1"} {
		if !strings.Contains(detail, want) {
			t.Errorf("/campagne lacks %q:\n%s", want, detail)
		}
	}
	if strings.Contains(detail, "Relais2") || strings.Contains(detail, "Relais3") {
		t.Errorf("/campagne names members who did not answer yes:\n%s", detail)
	}
	if list := r.ask(p, "/campagnes"); !strings.Contains(list, slug) {
		t.Errorf("/campagnes lacks %s:\n%s", slug, list)
	}

	// The next campaign leaves out who asked for no more calls.
	preview = r.ask(p, "/mobiliser leaders dans Entraide Belleville\n"+r.secondCampaignTxt)
	if !strings.Contains(preview, "joignables maintenant : 5") || !strings.Contains(preview, "ne veulent plus être sollicités : 1") {
		t.Fatalf("second preview:\n%s", preview)
	}
	r.press(p, r.organiser, button(t, r.lastTo(r.organiser.ID), "/envoyer "))
	r.eventually(p, "the second campaign delivered", func() bool { return len(r.campaignMessages(r.secondCampaignTxt)) == 5 })
	r.quiet(p)
	if n := r.campaignMessages(r.secondCampaignTxt)[r.reachable[1].ID]; n != 0 {
		t.Errorf("the member who asked for no more calls got the next campaign %d times", n)
	}
	if !slices.Contains(r.bot.AllowedUpdates(), "callback_query") || len(r.bot.AnsweredCallbacks()) < 4 {
		t.Errorf("allowed_updates %v, %d presses answered", r.bot.AllowedUpdates(), len(r.bot.AnsweredCallbacks()))
	}
	r.stop(p)
	// The campaign text is kept in the campaigns bucket by design (events.ArgText); the
	// logs hold neither it nor any name.
	for _, l := range r.leaks(r.campaignText, "Relais1", "Muette") {
		if strings.Contains(l, "the logs") {
			t.Error(l)
		}
	}
}

// askAs sends a command in u's private chat and returns the answer.
func (r *campaignRig) askAs(p *process, u tgtest.User, text string) string {
	r.t.Helper()
	before := len(r.sentTo(u.ID))
	r.bot.Text(tgtest.Private(u), u, text)
	var got []string
	r.eventually(p, "an answer to "+text, func() bool {
		got = r.sentTo(u.ID)
		return len(got) > before
	})
	return strings.Join(got[before:], "\n")
}

// A 429 with retry_after on a campaign message holds the campaign for that long: the
// refused message arrives, once, no sooner than retry_after after the refusal.
func TestCampaignHonoursRetryAfter(t *testing.T) {
	r := newCampaignRig(t)
	addr := freeAddr(t)
	p := startRelais(t, r.bin, append(slices.Clone(r.env), "RELAIS_HTTP_ADDR="+addr), "run")
	waitReady(t, p, addr, 30*time.Second)
	r.conversation()
	r.quiet(p)
	r.ask(p, "/mobiliser leaders\n"+r.campaignText)
	send := button(t, r.lastTo(r.organiser.ID), "/envoyer ")
	target := r.reachable[2]
	r.bot.FailNextTo(target.ID, tgtest.TooManyRequests(2))
	r.bot.Press(r.organiser, 1, send)
	r.eventually(p, "the campaign delivered", func() bool { return len(r.campaignMessages(r.campaignText)) == len(r.reachable)+1 })
	r.quiet(p)
	refusals := r.bot.Refusals()
	if len(refusals) != 1 || refusals[0].ChatID != target.ID {
		t.Fatalf("refusals %+v, want one to %d", refusals, target.ID)
	}
	var sentAt []time.Time
	for _, s := range r.bot.Sent() {
		if s.ChatID == target.ID && strings.Contains(s.Text, r.campaignText) {
			sentAt = append(sentAt, s.At)
		}
	}
	if len(sentAt) != 1 {
		t.Fatalf("the refused member got the campaign %d times, want once", len(sentAt))
	}
	if wait := sentAt[0].Sub(refusals[0].At); wait < 2*time.Second {
		t.Errorf("resent %s after a 429 asking for 2 s", wait)
	}
	// The campaign's figures are on /metrics.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`relais_telegram_campaign_messages_total{outcome="sent"} 7`,
		`relais_telegram_campaign_messages_total{outcome="retry"} 1`,
		`relais_campaign_campaigns_total{state="confirmed"} 1`,
		`relais_campaign_audience_total{reach="queued"} 7`,
		`relais_campaign_audience_total{reach="unreachable"} 1`,
		`relais_campaign_audience_total{reach="not_consented"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	r.stop(p)
}

// An organiser reaches only the groups Telegram says they are in: naming another group finds
// nothing, and a campaign to "every group" counts and reaches only their own group's leaders.
func TestCampaignStaysInTheOrganisersScope(t *testing.T) {
	r := newCampaignRig(t)
	addr := freeAddr(t)
	p := startRelais(t, r.bin, append(slices.Clone(r.env), "RELAIS_HTTP_ADDR="+addr), "run")
	waitReady(t, p, addr, 30*time.Second)
	r.conversation()
	// Not, or no longer, in Quartier Nord (set before relais first asks, so nothing cached).
	r.bot.SetMember(r.other, r.organiser, "left")
	r.quiet(p)
	if got := r.ask(p, "/mobiliser leaders dans Quartier Nord\n"+r.campaignText); !strings.Contains(got, "Aucun groupe ne correspond") {
		t.Errorf("a campaign to a group out of scope was prepared:\n%s", got)
	}
	preview := r.ask(p, "/mobiliser leaders\n"+r.campaignText)
	if want := fmt.Sprintf("joignables maintenant : %d", len(r.reachable)); !strings.Contains(preview, want) {
		t.Fatalf("preview lacks %q (the other group's leader must not count):\n%s", want, preview)
	}
	r.press(p, r.organiser, button(t, r.lastTo(r.organiser.ID), "/envoyer "))
	r.eventually(p, "the campaign delivered", func() bool { return len(r.campaignMessages(r.campaignText)) == len(r.reachable) })
	r.quiet(p)
	if n := r.campaignMessages(r.campaignText)[r.otherGroupLeader.ID]; n != 0 {
		t.Errorf("the leader of a group out of the organiser's scope got the campaign %d times", n)
	}
	r.stop(p)
}
