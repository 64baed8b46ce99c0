package telegram

import (
	"bytes"
	"context"
	"strconv"
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
