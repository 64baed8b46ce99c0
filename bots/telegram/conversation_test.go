package telegram

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
)

// TestConversation plays a conversation across several groups and a private chat through
// the fake Bot API and the real client, and checks the stream holds exactly the expected
// events.
func TestConversation(t *testing.T) {
	h := newHarness(t)
	f := h.fake
	nord := tgtest.Supergroup(-1001000000001, "Entraide Nord")
	sud := tgtest.Group(-4000000002, "Quartier Sud")
	const sudNew = -1001000000003
	var want []string
	msg := func(chat tgtest.Chat, id int, sender int64, extra string) {
		want = append(want, strings.TrimSpace(fmt.Sprintf("message telegram:%d:%d group=%d sender=%d %s", chat.ID, id, chat.ID, sender, extra)))
	}

	// Plain text; the emoji is one character, two UTF-16 units.
	hello := f.Text(nord, ann, "Bonjour à tous 👋")
	msg(nord, hello, ann.ID, "chars=16")

	// A reply names the author of the message replied to.
	r := f.Reply(nord, bob, hello, "Salut Ann")
	msg(nord, r, bob.ID, fmt.Sprintf("reply_to=%d target=%d chars=9", ann.ID, hello))

	// Mentions: a username (resolved by the bridge) and a text mention (carries the user).
	// The emoji before them shifts UTF-16 offsets away from rune offsets.
	text := "🎉 merci @Ann_Nord et Bob, et @relais_test_bot"
	bobUser := bob
	m := f.Send(tgtest.Message{Chat: nord, From: &chloe, Text: text, Entities: []tgtest.Entity{
		tgtest.EntityOf(text, "@Ann_Nord", "mention"),
		{Type: "text_mention", Offset: tgtest.EntityOf(text, "Bob", "").Offset, Length: 3, User: &bobUser},
		tgtest.EntityOf(text, "@relais_test_bot", "mention"), // the bot itself is nobody
	}})
	msg(nord, m, chloe.ID, "mentions=@ann_nord,1002 chars=45")

	// An edit keeps the original id: the stream drops it as a duplicate.
	f.Edit(nord, hello, "Bonjour à toutes et à tous 👋")

	// Our command is a command, not a message; another bot's command is just a message.
	cmd := f.Text(nord, ann, "/stats@relais_test_bot semaine")
	want = append(want, fmt.Sprintf("command telegram:%d:%d group=%d sender=%d cmd=stats[\"semaine\"]", nord.ID, cmd, nord.ID, ann.ID))
	other := f.Text(nord, bob, "/ban@MissRose_bot")
	msg(nord, other, bob.ID, "chars=17")

	// Not members: an anonymous admin, another bot, a channel post.
	f.Send(tgtest.Message{Chat: nord, From: &anonAdmin, SenderChat: &nord, Text: "Annonce"})
	f.Text(nord, otherBot, "Welcome!")
	f.Push(map[string]any{"channel_post": map[string]any{"message_id": 1, "date": 1700000000,
		"chat": tgtest.Channel(-1009999, "Canal"), "sender_chat": tgtest.Channel(-1009999, "Canal"), "text": "post"}})

	// Joins and leaves, from service messages and chat_member updates. A bot joining is
	// nobody.
	f.Join(nord, &ann, dan, otherBot)
	want = append(want, fmt.Sprintf("join telegram:%d:join:%d:%d group=%d sender=%d", nord.ID, dan.ID, joinDate(t, f), nord.ID, dan.ID))
	f.ChatMember(nord, chloe, "member", "left")
	want = append(want, fmt.Sprintf("leave telegram:%d:leave:%d:%d group=%d sender=%d", nord.ID, chloe.ID, memberDate(t, f), nord.ID, chloe.ID))
	f.ChatMember(nord, bob, "member", "administrator") // a promotion is neither
	f.MyChatMember(nord, ann, "left", "administrator") // the bot's own membership is nobody's

	// Reactions: set (an event), removed (none).
	f.Reaction(nord, bob, hello, "👍")
	want = append(want, fmt.Sprintf("reaction telegram:%d:%d:reaction:%d group=%d sender=%d target=%d", nord.ID, hello, bob.ID, nord.ID, bob.ID, hello))
	f.Reaction(nord, dan, hello)

	// A photo with a caption; a sticker-like media message without text counts zero chars.
	photo := f.Send(tgtest.Message{Chat: nord, From: &chloe, Photo: true, Caption: "Affiche 🎨"})
	msg(nord, photo, chloe.ID, "chars=9")
	plain := f.Send(tgtest.Message{Chat: nord, From: &dan, Photo: true})
	msg(nord, plain, dan.ID, "")

	// In a forum topic, the implicit reply to the topic's first message is no reply.
	topic := f.Text(nord, ann, "Sujet: affiches")
	msg(nord, topic, ann.ID, "chars=15")
	inTopic := f.Send(tgtest.Message{Chat: nord, From: &dan, Text: "ok", ReplyTo: topic, ThreadID: topic, TopicMessage: true})
	msg(nord, inTopic, dan.ID, "chars=2")
	// Replying to or mentioning oneself names nobody.
	self := f.Send(tgtest.Message{Chat: nord, From: &ann, Text: "cc @ann_nord", ReplyTo: topic,
		Entities: []tgtest.Entity{tgtest.EntityOf("cc @ann_nord", "@ann_nord", "mention")}})
	msg(nord, self, ann.ID, fmt.Sprintf("target=%d chars=12", topic))

	// A second group, which then becomes a supergroup: the service messages map to nothing,
	// and the first event of the new id says where its history comes from.
	s1 := f.Text(sud, bob, "On se voit samedi ?")
	msg(sud, s1, bob.ID, "chars=19")
	newSud := f.Migrate(sud, sudNew, bob)
	s2 := f.Text(newSud, dan, "Oui !")
	want = append(want, fmt.Sprintf("message telegram:%d:%d group=%d from=%d sender=%d chars=5", sudNew, s2, sudNew, sud.ID, dan.ID))
	s3 := f.Text(newSud, bob, "Super")
	msg(newSud, s3, bob.ID, "chars=5")

	// Private chat: commands and one's own phone number; someone else's contact is nothing;
	// plain private text is nothing.
	oui := f.Text(tgtest.Private(ann), ann, "/oui")
	want = append(want, fmt.Sprintf("command telegram:dm:%d:%d sender=%d cmd=oui[]", ann.ID, oui, ann.ID))
	contact := f.ShareContact(ann, "33 6 12 34 56 78", ann.ID)
	want = append(want, fmt.Sprintf("consent telegram:dm:%d:%d sender=%d phone=+33612345678", ann.ID, contact, ann.ID))
	f.ShareContact(bob, "+33699999999", chloe.ID)
	f.Text(tgtest.Private(bob), bob, "bonjour")

	a := h.adapter()
	stop := run(t, a.Run)
	waitFor(t, "every update confirmed", func() bool { return f.Pending() == 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	got := h.streamEvents()
	diffLines(t, summaries(got), want)
	for _, e := range got {
		if e.At.IsZero() || e.At.Location().String() != "UTC" {
			t.Errorf("%s: at %v, want a UTC platform time", e.ID, e.At)
		}
	}
	first := got[0]
	if first.Sender.Name != "Ann Nord" || first.Sender.FirstName != "Ann" || first.Sender.LastName != "Nord" ||
		first.Sender.Username != "ann_nord" || first.Group.Title != "Entraide Nord" {
		t.Errorf("first event identity = %+v group %+v", first.Sender, first.Group)
	}
	if allowed := f.AllowedUpdates(); !slices.Contains(allowed, "chat_member") || !slices.Contains(allowed, "message_reaction") {
		t.Errorf("allowed_updates = %v, want chat_member and message_reaction listed", allowed)
	}
	if !strings.Contains(h.logs.String(), "privacy_mode_off=false") {
		t.Errorf("privacy mode not logged at start")
	}
}

// joinDate and memberDate read the date the fake gave the update just queued.
func joinDate(t *testing.T, f *tgtest.Server) int64 {
	t.Helper()
	return lastDate(t, f, "message")
}

func memberDate(t *testing.T, f *tgtest.Server) int64 {
	t.Helper()
	return lastDate(t, f, "chat_member")
}

func lastDate(t *testing.T, f *tgtest.Server, field string) int64 {
	t.Helper()
	u := lastUpdate(t, f)
	obj, ok := u[field].(map[string]any)
	if !ok {
		t.Fatalf("last update has no %s", field)
	}
	return int64(obj["date"].(float64))
}

func lastUpdate(t *testing.T, f *tgtest.Server) map[string]any {
	t.Helper()
	var u map[string]any
	if err := json.Unmarshal(f.LastUpdate(), &u); err != nil {
		t.Fatalf("last update: %v", err)
	}
	return u
}
