package telegram

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

// TestMembershipOverNATS: the bridge's question goes over NATS to the adapter, which asks
// getChatMember; statuses map to member or not as Telegram defines them.
func TestMembershipOverNATS(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	run(t, a.ServeMembership)
	group := tgtest.Supergroup(-1001234, "Lyon")
	poster := tgtest.User{ID: 11, FirstName: "Paule"}
	h.fake.Text(group, poster, "bonjour") // posting makes her a member, as on Telegram
	statuses := map[int64]string{12: "administrator", 13: "creator", 14: "restricted", 15: "left", 16: "kicked"}
	for id, st := range statuses {
		h.fake.SetMember(group, tgtest.User{ID: id, FirstName: "X"}, st)
	}
	h.fake.Join(group, nil, tgtest.User{ID: 17, FirstName: "Jo"})
	h.fake.Leave(group, tgtest.User{ID: 18, FirstName: "Lou"})
	client := events.MembershipClient{NC: h.env.Conn, Names: h.env.Names, Timeout: 5 * time.Second}
	tests := []struct {
		user int64
		want bool
	}{{11, true}, {12, true}, {13, true}, {14, true}, {15, false}, {16, false}, {17, true}, {18, false}, {99, false}}
	ctx := context.Background()
	// The subscription is up once a first question is answered.
	waitFor(t, "membership served", func() bool {
		_, err := client.IsMember(ctx, events.Telegram, "-1001234", "11")
		return err == nil
	})
	for _, tt := range tests {
		got, err := client.IsMember(ctx, events.Telegram, "-1001234", strconv.FormatInt(tt.user, 10))
		if err != nil || got != tt.want {
			t.Errorf("user %d: member %v (%v), want %v", tt.user, got, err, tt.want)
		}
	}
	if _, err := client.IsMember(ctx, events.Telegram, "not-a-chat", "11"); err == nil {
		t.Error("a malformed group id got an answer")
	}
	if _, err := client.IsMember(ctx, events.WhatsApp, "1@g.us", "11"); err == nil {
		t.Error("a platform nobody serves answered")
	}
}

// TestMembershipNotInGroupIsAnAnswer: over NATS, a chat the bot was removed from (403) or
// that Telegram does not know (400 "chat not found") comes back as events.ErrNotInGroup, an
// answer; a 500 or a 429 comes back as another error: Telegram did not say.
func TestMembershipNotInGroupIsAnAnswer(t *testing.T) {
	h := newHarness(t)
	run(t, h.adapter().ServeMembership)
	organiser := tgtest.User{ID: 11, FirstName: "Paule"}
	tests := []struct {
		name       string
		fail       *tgtest.APIError
		wantNotIn  bool
		wantErr    bool
		wantMember bool
	}{
		{"answers", nil, false, false, true},
		{"bot kicked (403)", &tgtest.APIError{Code: 403, Description: "Forbidden: bot was kicked from the supergroup chat"}, true, true, false},
		{"chat not found (400)", &tgtest.APIError{Code: 400, Description: "Bad Request: chat not found"}, true, true, false},
		{"user not in the chat (400)", &tgtest.APIError{Code: 400, Description: "Bad Request: user not found"}, false, false, false},
		{"another bad request (400): not an answer", &tgtest.APIError{Code: 400, Description: "Bad Request: something Telegram adds one day"}, false, true, false},
		{"server error (500)", &tgtest.APIError{Code: 500, Description: "Internal Server Error"}, false, true, false},
		{"rate limited (429)", &tgtest.APIError{Code: 429, Description: "Too Many Requests: retry after 5", RetryAfter: 5}, false, true, false},
	}
	client := events.MembershipClient{NC: h.env.Conn, Names: h.env.Names, Timeout: 5 * time.Second}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			group := tgtest.Supergroup(int64(-1002000-i), "Groupe")
			h.fake.SetMember(group, organiser, "member")
			if tt.fail != nil {
				h.fake.FailMembership(group, *tt.fail)
			}
			chat := strconv.FormatInt(group.ID, 10)
			var (
				member bool
				err    error
			)
			waitFor(t, "membership served", func() bool {
				member, err = client.IsMember(ctx, events.Telegram, chat, "11")
				return err == nil || !strings.Contains(err.Error(), "no responders")
			})
			if (err != nil) != tt.wantErr || errors.Is(err, events.ErrNotInGroup) != tt.wantNotIn || member != tt.wantMember {
				t.Errorf("member %v, err %v; want error %v, not in group %v", member, err, tt.wantErr, tt.wantNotIn)
			}
		})
	}
}

// TestPhotoReply: a reply carrying a chart goes out with sendPhoto (a multipart upload), its
// text as the caption; the reply is then securely deleted like any other.
func TestPhotoReply(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 2000)...)
	h.reply(events.Reply{ID: "p1", Chat: "1001", Private: true, Text: "📈 Lyon : 30 derniers jours", Photo: png})
	h.reply(events.Reply{ID: "p2", Chat: "1001", Private: true, Text: "et le texte"})
	run(t, a.ServeReplies)
	waitFor(t, "replies settled", func() bool { return len(h.fake.Photos()) == 1 && len(h.fake.Sent()) == 1 && h.repliesSettled() })
	p := h.fake.Photos()[0]
	if p.ChatID != 1001 || p.Caption != "📈 Lyon : 30 derniers jours" || !bytes.Equal(p.Bytes, png) || p.FileName != "chart.png" {
		t.Errorf("photo sent %+v (%d bytes)", p, len(p.Bytes))
	}
}
