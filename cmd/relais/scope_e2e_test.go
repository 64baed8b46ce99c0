package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// TestScopeOutageOrganiserSeesWhatIsMissing: an organiser in three groups, one of which
// Telegram's getChatMember answers 500 for a while, through the real binary. /stats names
// the group it could not check; the campaign previewed then is refused at Envoyer and
// nothing is queued; once Telegram answers, the same campaign goes out to all three groups.
func TestScopeOutageOrganiserSeesWhatIsMissing(t *testing.T) {
	r := newCampaignRig(t)
	third := tgtest.Supergroup(-100999, "Quartier Sud")
	p := r.start()
	r.conversation()
	r.bot.SetMember(third, r.organiser, "member")
	r.bot.Text(third, r.repliers[0], "Bonjour le quartier")
	// Down before relais first asks about it, so no answer is cached.
	r.bot.FailMembership(r.other, tgtest.InternalError())
	r.quiet(p)

	stats := r.ask(p, "/stats")
	// The title of a group relais never knew the organiser in is not theirs to learn.
	if strings.Contains(stats, r.other.Title) {
		t.Errorf("/stats during the outage names a group the organiser was never known to be in:\n%s", stats)
	}
	for _, want := range []string{"n'a pas pu me dire si vous êtes membre de : 1 autre groupe", r.group.Title, third.Title, "réessayez"} {
		if !strings.Contains(stats, want) {
			t.Errorf("/stats during the outage lacks %q:\n%s", want, stats)
		}
	}
	preview := r.ask(p, "/mobiliser leaders\n"+r.campaignText)
	if !strings.Contains(preview, "pas pu me dire si vous êtes membre de : 1 autre groupe") {
		t.Errorf("the preview does not say the audience is incomplete:\n%s", preview)
	}
	send := button(t, r.lastTo(r.organiser.ID), "/envoyer ")
	refused := r.press(p, r.organiser, send)
	if !strings.Contains(refused, "rien n'est envoyé") || !strings.Contains(refused, "Réessayez") || !strings.Contains(refused, "1 autre groupe") {
		t.Fatalf("Envoyer during the outage answered:\n%s", refused)
	}
	r.quiet(p)
	if got := r.campaignMessages(r.campaignText); len(got) != 0 {
		t.Fatalf("the campaign went to %d members on a partial audience", len(got))
	}

	r.bot.HealMembership(r.other)
	if stats := r.ask(p, "/stats"); strings.Contains(stats, "pas pu me dire") || !strings.Contains(stats, r.other.Title) {
		t.Errorf("/stats after the outage:\n%s", stats)
	}
	if sent := r.press(p, r.organiser, send); !strings.Contains(sent, "confirmée") {
		t.Fatalf("Envoyer after the outage answered:\n%s", sent)
	}
	r.eventually(p, "the campaign delivered", func() bool { return len(r.campaignMessages(r.campaignText)) == len(r.reachable)+1 })
	r.quiet(p)
	if n := r.campaignMessages(r.campaignText)[r.otherGroupLeader.ID]; n != 1 {
		t.Errorf("the leader of the group checked after the outage got the campaign %d times, want once", n)
	}
	r.stop(p)
}

// TestDigestDuringMembershipOutage: through the real binary, the weekly digest is due while
// Telegram's getChatMember answers 500 for one of the organiser's groups: no digest goes out
// (nor is one recorded sent: it arrives later) until Telegram answers again, then exactly
// one, the complete one; a restart the same week sends no other.
func TestDigestDuringMembershipOutage(t *testing.T) {
	r := newCampaignRig(t)
	p := r.start()
	r.conversation()
	r.quiet(p)
	r.stop(p)
	r.bot.FailMembership(r.other, tgtest.InternalError())
	// Monday 00:00 of a week well under way: due now, and not its last hour.
	r.env = append(r.env, "RELAIS_DIGEST_AT=MON 00:00 "+midWeekZone(t, time.Now()))
	p = r.start()
	digests := func() []string {
		return slices.DeleteFunc(r.sentTo(r.organiser.ID), func(s string) bool { return !strings.Contains(s, "Bilan de la semaine") })
	}
	time.Sleep(20 * time.Second) // the first attempt and its first retry, both during the outage
	if got := digests(); len(got) != 0 {
		t.Fatalf("a digest went out during the outage:\n%s", got[0])
	}
	r.bot.HealMembership(r.other)
	deadline := time.Now().Add(2 * time.Minute)
	for len(digests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no digest within 2 minutes of the outage's end\n%s", p.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // any second digest would come now
	got := digests()
	if len(got) != 1 {
		t.Fatalf("%d digests, want 1", len(got))
	}
	if strings.Contains(got[0], "pas pu me dire") || !strings.Contains(got[0], r.other.Title) || !strings.Contains(got[0], r.group.Title) {
		t.Errorf("the digest is not the complete one:\n%s", got[0])
	}
	r.stop(p)
	p = r.start() // a restart the same week sends it no more
	r.quiet(p)
	time.Sleep(2 * time.Second)
	if n := len(digests()); n != 1 {
		t.Errorf("%d digests after a restart, want 1", n)
	}
	r.stop(p)
}

// midWeekZone is a time zone in which now is at least two hours from either end of its ISO
// week: a digest put off there waits for the platform rather than going out for the week's
// last call (UTC, or twelve hours either side of it when UTC is near Monday 00:00).
func midWeekZone(t *testing.T, now time.Time) string {
	t.Helper()
	for _, name := range []string{"UTC", "Etc/GMT-12", "Etc/GMT+12"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		l := now.In(loc)
		monday := time.Date(l.Year(), l.Month(), l.Day()-(int(l.Weekday())+6)%7, 0, 0, 0, 0, loc)
		if l.Sub(monday) > 2*time.Hour && monday.AddDate(0, 0, 7).Sub(l) > 2*time.Hour {
			return name
		}
	}
	t.Fatal("no zone in mid-week")
	return ""
}
