package reply_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/events"
)

// published records what a Sender publishes, and fails when told to.
type published struct {
	replies []events.Reply
	err     error
}

func (p *published) Reply(_ context.Context, r events.Reply) error {
	if p.err != nil {
		return p.err
	}
	p.replies = append(p.replies, r)
	return nil
}

var texts = reply.Texts{StartMeFirst: "start me%s", AnsweredPrivately: "answered privately"}

func command(p events.Platform, group string) events.Event {
	ev := events.Event{ID: string(p) + ":42:7", Platform: p, Sender: events.Member{ID: "1001"}}
	if group != "" {
		ev.Group = &events.Group{ID: group}
	}
	return ev
}

func TestHereAndPrivate(t *testing.T) {
	tests := []struct {
		name                       string
		ev                         events.Event
		private                    bool // Private rather than Here
		bot                        string
		chat                       string
		wantPrivate                bool
		fallbackChat, fallbackText string
	}{
		{"here in a group answers in the group", command(events.Telegram, "-500"), false, "relais_bot", "-500", false, "", ""},
		{"here in a private chat answers privately", command(events.WhatsApp, ""), false, "", "1001", true, "", ""},
		{"privately from a Telegram group falls back to the group", command(events.Telegram, "-500"), true, "relais_bot",
			"1001", true, "-500", "start me (@relais_bot)"},
		{"privately from a Telegram group, bot without a name", command(events.Telegram, "-500"), true, "", "1001", true, "-500", "start me"},
		{"privately from a WhatsApp group needs no fallback", command(events.WhatsApp, "g@g.us"), true, "relais_bot", "1001", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := reply.NewSender(&published{}, tt.bot, texts)
			r := s.Here(tt.ev, "k", "hello")
			if tt.private {
				r = s.Private(tt.ev, "k", "hello")
			}
			if r.Chat != tt.chat || r.Private != tt.wantPrivate || r.Text != "hello" || r.Platform != tt.ev.Platform {
				t.Errorf("reply to %q, private %v, text %q on %s; want %q, %v", r.Chat, r.Private, r.Text, r.Platform, tt.chat, tt.wantPrivate)
			}
			if r.FallbackChat != tt.fallbackChat || r.FallbackText != tt.fallbackText {
				t.Errorf("fallback %q %q, want %q %q", r.FallbackChat, r.FallbackText, tt.fallbackChat, tt.fallbackText)
			}
			if r.ID != reply.ID(tt.ev, "k") || r.V != events.Version {
				t.Errorf("id %q version %d", r.ID, r.V)
			}
		})
	}
}

// A redelivered command gets the same reply ids; another command or another kind of
// answer, other ids; the event id, which may hold platform ids, is not in them.
func TestIDDerivesFromTheCommand(t *testing.T) {
	a := command(events.Telegram, "-500")
	b := a
	b.ID = "telegram:42:8"
	redelivered := a
	if reply.ID(a, "k") != reply.ID(redelivered, "k") {
		t.Error("a redelivered command gets another id")
	}
	if reply.ID(a, "k") == reply.ID(b, "k") || reply.ID(a, "k") == reply.ID(a, "ack") {
		t.Error("two answers share an id")
	}
	if id := reply.ID(a, "k"); strings.Contains(id, "42") || !strings.HasPrefix(id, "reply-") || !strings.HasSuffix(id, "-k") {
		t.Errorf("id %q", id)
	}
}

func TestSendPrivately(t *testing.T) {
	tests := []struct {
		name     string
		ev       events.Event
		wantAcks int
	}{
		{"from a group, the group is told", command(events.Telegram, "-500"), 1},
		{"from a private chat, nothing more", command(events.Telegram, ""), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &published{}
			s := reply.NewSender(pub, "", texts)
			if err := s.SendPrivately(context.Background(), tt.ev, s.Private(tt.ev, "k", "secret")); err != nil {
				t.Fatal(err)
			}
			if len(pub.replies) != 1+tt.wantAcks || !pub.replies[0].Private || pub.replies[0].Text != "secret" {
				t.Fatalf("published %+v", pub.replies)
			}
			if tt.wantAcks == 1 {
				if ack := pub.replies[1]; ack.Private || ack.Chat != tt.ev.Group.ID || ack.Text != texts.AnsweredPrivately {
					t.Errorf("ack %+v", ack)
				}
			}
		})
	}
	pub := &published{err: errors.New("down")}
	s := reply.NewSender(pub, "", texts)
	ev := command(events.Telegram, "-500")
	if err := s.SendPrivately(context.Background(), ev, s.Private(ev, "k", "x")); err == nil {
		t.Error("a failed publish was not reported")
	}
}

func TestClipTo(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly", 7, "exactly"},
		{"été comme hiver", 5, "été …"},
		{"abc", 0, "…"},
	}
	for _, tt := range tests {
		if got := reply.ClipTo(tt.in, tt.n); got != tt.want {
			t.Errorf("ClipTo(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	if got := reply.Clip(strings.Repeat("é", reply.MaxRunes+10)); utf8.RuneCountInString(got) != reply.MaxRunes {
		t.Errorf("Clip kept %d runes, want %d", utf8.RuneCountInString(got), reply.MaxRunes)
	}
}
