package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
)

func TestWeeklyDigestOncePerOrganiserAcrossReplicas(t *testing.T) {
	checker := &fakeMembership{members: map[[2]string]bool{{tgGroup.ID, tgOrganiser.ID}: true}}
	r := newRig(t, "fr", withScopes(checker))
	r.seedScoped()
	other := r.replica(withScopes(checker))
	ctx := context.Background()
	kv, err := events.OrganiserBucket(ctx, r.env.JS, r.env.Names, r.env.Names.DigestBucket(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := commands.ParseSchedule("MON 09:00 Europe/Paris")
	monday := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)
	tick := func(h *commands.Handler, at time.Time) int {
		t.Helper()
		n, err := h.DigestTick(ctx, kv, sc, at)
		if err != nil {
			t.Fatalf("tick at %v: %v", at, err)
		}
		return n
	}
	if n := tick(r.h, monday.Add(-time.Minute)) + tick(other, monday.Add(-time.Minute)); n != 0 {
		// The week before is due too (a relais started mid-week sends it): count it apart.
		r.replies()
	}
	got := tick(r.h, monday.Add(time.Minute)) + tick(other, monday.Add(time.Minute)) + tick(other, monday.Add(2*time.Hour)) + tick(r.h, monday.Add(6*24*time.Hour))
	if got != 1 {
		t.Errorf("the week's digests sent %d times by the two replicas, want once (the WhatsApp organiser's scope is empty)", got)
	}
	replies := r.replies()
	var digests []events.Reply
	for _, rep := range replies {
		if strings.HasPrefix(rep.ID, "digest-") {
			digests = append(digests, rep)
		}
	}
	if len(digests) != 1 {
		t.Fatalf("%d digest replies, want 1: %+v", len(digests), replies)
	}
	d := digests[0]
	if d.Chat != tgOrganiser.ID || !d.Private || !strings.Contains(d.Text, "2026-W11") {
		t.Errorf("digest to %s private %v: %s", d.Chat, d.Private, d.Text)
	}
	if !strings.Contains(d.Text, tgGroup.Title) || !strings.Contains(d.Text, tgMember.Name) {
		t.Errorf("digest lacks group A or its new active:\n%s", d.Text)
	}
	for _, s := range []string{otherGroup.Title, otherMember.Name} {
		if strings.Contains(d.Text, s) {
			t.Errorf("digest of A's organiser names %q of B:\n%s", s, d.Text)
		}
	}
	if !strings.Contains(d.Text, "Synchro CRM : 3 en attente") {
		t.Errorf("digest lacks the CRM sync health:\n%s", d.Text)
	}
	// The next week: again, once.
	next := monday.AddDate(0, 0, 7).Add(time.Minute)
	if n := tick(other, next) + tick(r.h, next); n != 1 {
		t.Errorf("next week's digests sent %d times, want 1", n)
	}
}

func TestDigestOnDemandSaysWhoRoseAndFaded(t *testing.T) {
	r := newRig(t, "en")
	r.seedScoped()
	// Bastien was active a week ago and is no longer; Camille is new in both bars.
	r.q.members[0].Messages, r.q.members[0].ActiveDays, r.q.members[0].People = 2, 1, 0
	r.q.members[0].Before.Messages, r.q.members[0].Before.ActiveDays = 40, 9
	r.q.groups[1].MessagesPerDay = []int{1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5}
	text := privateText(r.handle(r.cmd(events.Telegram, tgOrganiser, nil, "bilan")))
	for _, want := range []string{"New actives (1):\n  • Camille Martin", "New leaders (1):\n  • Camille Martin",
		"Became inactive (1):\n  • Bastien Secret", "Lyon 3e entraide: 35 / 7 ↗ growing"} {
		if !strings.Contains(text, want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}
}

func TestTrend(t *testing.T) {
	tests := []struct{ this, last, want int }{
		{0, 0, 0}, {2, 1, 0}, {30, 20, 1}, {20, 30, -1}, {100, 90, 0}, {5, 0, 1}, {0, 5, -1}, {24, 20, 0},
	}
	for _, tt := range tests {
		if got := commands.Trend(tt.this, tt.last); got != tt.want {
			t.Errorf("Trend(%d, %d) = %d, want %d", tt.this, tt.last, got, tt.want)
		}
	}
}
