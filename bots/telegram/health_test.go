package telegram

import (
	"slices"
	"strconv"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/health"
)

func TestHealthSeesTheBotRemovedReAddedAndBlind(t *testing.T) {
	bot := tgtest.User{ID: 123456789, IsBot: true, FirstName: "Relais", Username: "relais_test_bot"} // privacy mode on
	h := newHarness(t, tgtest.WithBot(bot))
	a := h.adapter()
	nord, sud := tgtest.Supergroup(-1001000000001, "Nord"), tgtest.Supergroup(-1001000000002, "Sud")
	ann := tgtest.User{ID: 42, FirstName: "Ann"}
	token := func(c tgtest.Chat) string {
		return h.env.Hasher.Group(events.Telegram, strconv.FormatInt(c.ID, 10))
	}
	if got := a.Health(); got.PrivacyModeOff || len(got.Removed)+len(got.Blind) != 0 || got.TokenRefused || got.Conflict {
		t.Fatalf("at start: %+v", got)
	}
	run(t, a.Run)
	h.fake.MyChatMember(nord, ann, "administrator", "kicked")
	h.fake.MyChatMember(sud, ann, "left", "member")
	waitFor(t, "nord removed, sud blind", func() bool {
		got := a.Health()
		return slices.Equal(got.Removed, []string{token(nord)}) && slices.Equal(got.Blind, []string{token(sud)})
	})
	h.fake.MyChatMember(nord, ann, "kicked", "administrator") // re-added, as admin: it sees all
	h.fake.MyChatMember(sud, ann, "member", "administrator")  // promoted: it sees all
	waitFor(t, "both back, as admin", func() bool {
		got := a.Health()
		want := []string{token(nord), token(sud)}
		slices.Sort(want)
		return len(got.Removed) == 0 && len(got.Blind) == 0 && slices.Equal(got.Admin, want)
	})
}

func TestHealthPrivacyOffIsNotBlindAndConflictIsSeen(t *testing.T) {
	bot := tgtest.User{ID: 123456789, IsBot: true, FirstName: "Relais", Username: "relais_test_bot", CanReadAllGroupMessages: true}
	h := newHarness(t, tgtest.WithBot(bot))
	a := h.adapter()
	if !a.Health().PrivacyModeOff {
		t.Fatal("getMe said can_read_all_group_messages, Health says privacy mode on")
	}
	h.fake.InjectError("getUpdates", tgtest.Conflict())
	h.fake.InjectError("getUpdates", tgtest.Conflict())
	h.fake.InjectError("getUpdates", tgtest.Conflict())
	run(t, a.Run)
	waitFor(t, "409 seen", func() bool { return a.Health().Conflict })
	h.fake.MyChatMember(tgtest.Supergroup(-1001000000003, "Est"), tgtest.User{ID: 7, FirstName: "Bo"}, "left", "member")
	waitFor(t, "conflict over", func() bool { return !a.Health().Conflict })
	if got := a.Health(); len(got.Blind) != 0 {
		t.Errorf("privacy mode off, plain member: blind %v", got.Blind)
	}
}

func TestHealthTokenRefused(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	h.fake.InjectError("deleteWebhook", tgtest.Unauthorized())
	if err := a.Run(t.Context()); err == nil {
		t.Fatal("Run went on with a refused token")
	}
	if !a.Health().TokenRefused {
		t.Error("401 not in Health")
	}
}

func TestConditionsNameTokensNotGroups(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	nord := tgtest.Supergroup(-1001000000001, "Nord")
	run(t, a.Run)
	h.fake.MyChatMember(nord, tgtest.User{ID: 42, FirstName: "Ann"}, "member", "left")
	waitFor(t, "removed", func() bool { return len(a.Health().Removed) == 1 })
	got := a.Conditions(t.Context())
	want := h.env.Hasher.Group(events.Telegram, strconv.FormatInt(nord.ID, 10))
	if len(got) != 1 || got[0].Kind != health.TelegramGroupRemoved || got[0].Subject != want {
		t.Fatalf("conditions %+v, want one removal of %s", got, want)
	}
}
