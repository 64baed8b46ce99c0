package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

func (h *harness) reply(r events.Reply) {
	h.t.Helper()
	r.V, r.Platform = events.Version, events.Telegram
	if err := h.env.Pub.Reply(context.Background(), r); err != nil {
		h.t.Fatalf("publish reply: %v", err)
	}
}

// repliesSettled says whether the reply consumer has acked everything.
func (h *harness) repliesSettled() bool {
	n := h.env.Names
	c, err := h.env.JS.Consumer(context.Background(), n.RepliesStream(), n.ReplyConsumer(events.Telegram))
	if err != nil {
		return false
	}
	info, err := c.Info(context.Background())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// TestReplies sends the bridge's replies: quoting, the share-my-phone keyboard, migrated
// groups, unreachable chats (fallback or drop, without blocking the others).
func TestReplies(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	h.fake.Migrate(tgtest.Group(-4000000002, "Sud"), -1001000000003, bob)
	h.fake.Forbid(2002, "bot can't initiate conversation with a user")
	h.fake.Forbid(-1001000000009, "bot was kicked from the supergroup chat")
	h.fake.Forbid(2003, "bot was blocked by the user")

	h.reply(events.Reply{ID: "r1", Chat: "-1001000000001", Text: "Réponse", InReplyTo: "42"})
	h.reply(events.Reply{ID: "r2", Chat: "1001", Private: true, Text: "Partagez votre numéro ?", AskPhone: true})
	h.reply(events.Reply{ID: "r3", Chat: "-4000000002", Text: "Au nouveau groupe"})
	h.reply(events.Reply{ID: "r4", Chat: "2002", Private: true, Text: "Vos chiffres",
		FallbackChat: "-1001000000004", FallbackText: "Écrivez-moi d'abord en privé"})
	h.reply(events.Reply{ID: "r5", Chat: "-1001000000009", Text: "perdu"})
	h.reply(events.Reply{ID: "r6", Chat: "2003", Private: true, Text: "perdu aussi"})
	h.reply(events.Reply{ID: "r7", Chat: "-1001000000005", Text: "Toujours là"})

	stop := run(t, a.ServeReplies)
	waitFor(t, "replies settled", func() bool { return len(h.fake.Sent()) == 5 && h.repliesSettled() })
	// Later replies to the migrated group go straight to the new id.
	h.reply(events.Reply{ID: "r8", Chat: "-4000000002", Text: "Encore", InReplyTo: "7"})
	waitFor(t, "the reply after migration", func() bool { return len(h.fake.Sent()) == 6 && h.repliesSettled() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	var got []string
	var keyboard json.RawMessage
	for _, s := range h.fake.Sent() {
		got = append(got, fmt.Sprintf("%d %q reply_to=%d", s.ChatID, s.Text, s.ReplyTo))
		if s.ChatID == 1001 {
			keyboard = s.ReplyMarkup
		} else if s.ReplyMarkup != nil {
			t.Errorf("keyboard sent to %d", s.ChatID)
		}
	}
	slices.Sort(got)
	want := []string{
		`-1001000000001 "Réponse" reply_to=42`,
		`-1001000000003 "Au nouveau groupe" reply_to=0`,
		`-1001000000003 "Encore" reply_to=7`,
		`-1001000000004 "Écrivez-moi d'abord en privé" reply_to=0`,
		`-1001000000005 "Toujours là" reply_to=0`,
		`1001 "Partagez votre numéro ?" reply_to=0`,
	}
	slices.Sort(want)
	diffLines(t, got, want)

	var kb struct {
		Keyboard [][]struct {
			Text           string `json:"text"`
			RequestContact bool   `json:"request_contact"`
		} `json:"keyboard"`
		OneTime bool `json:"one_time_keyboard"`
	}
	if err := json.Unmarshal(keyboard, &kb); err != nil || len(kb.Keyboard) != 1 || len(kb.Keyboard[0]) != 1 ||
		!kb.Keyboard[0][0].RequestContact || !kb.OneTime || !strings.Contains(kb.Keyboard[0][0].Text, "numéro") {
		t.Errorf("share-my-phone keyboard = %s", keyboard)
	}
	logs := h.logs.String()
	if strings.Count(logs, "reply dropped") != 2 {
		t.Errorf("want the two unreachable chats logged as dropped:\n%s", logs)
	}
	for _, id := range []string{"2002", "2003", "-1001000000009"} {
		if strings.Contains(logs, id) {
			t.Errorf("chat id %s logged in clear", id)
		}
	}
	if n := h.env.StreamMsgs(t, h.env.Names.DLQStream()); n != 0 {
		t.Errorf("%d replies dead-lettered", n)
	}
}

// TestReplyTooManyRequests: a 429 on sendMessage is retried after retry_after.
func TestReplyTooManyRequests(t *testing.T) {
	h := newHarness(t)
	h.fake.InjectError("sendMessage", tgtest.TooManyRequests(1))
	h.reply(events.Reply{ID: "r1", Chat: "-1001000000001", Text: "Bonjour"})
	stop := run(t, h.adapter().ServeReplies)
	waitFor(t, "the reply sent", func() bool { return len(h.fake.Sent()) == 1 && h.repliesSettled() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	calls := h.fake.CallTimes("sendMessage")
	if len(calls) != 2 {
		t.Fatalf("sendMessage called %d times, want 2", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < time.Second {
		t.Errorf("retried after %s, Telegram asked for 1s", gap)
	}
}

// TestReplyBadRequestDeadLetters: a reply Telegram refuses for good goes to the dead
// letters with the reason, and one that is not a reply at all too.
func TestReplyBadRequestDeadLetters(t *testing.T) {
	h := newHarness(t)
	h.fake.InjectError("sendMessage", tgtest.APIError{Code: 400, Description: "Bad Request: message is too long"})
	h.reply(events.Reply{ID: "r1", Chat: "-1001000000001", Text: "long"})
	h.reply(events.Reply{ID: "r2", Chat: "not-a-chat", Text: "x"})
	stop := run(t, h.adapter().ServeReplies)
	waitFor(t, "two dead letters", func() bool { return h.env.StreamMsgs(t, h.env.Names.DLQStream()) == 2 && h.repliesSettled() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.Sent()); n != 0 {
		t.Errorf("%d sent", n)
	}
}

// TestChatFloodLimit: a group gets at most one message per 3 s; the second waits in the
// stream while other chats are served.
func TestChatFloodLimit(t *testing.T) {
	h := newHarness(t)
	s := newSender(h.adapter())
	if d := s.reserve(-1001); d != 0 {
		t.Fatalf("first message delayed %s", d)
	}
	if d := s.reserve(-1001); d <= 0 || d > groupInterval {
		t.Errorf("second message to the group: delay %s, want (0, %s]", d, groupInterval)
	}
	if d := s.reserve(-1002); d != 0 {
		t.Errorf("another group delayed %s", d)
	}
	for i := range privateBurst {
		if d := s.reserve(42); d != 0 {
			t.Errorf("private message %d delayed %s within the burst", i, d)
		}
	}
	if d := s.reserve(42); d <= 0 {
		t.Errorf("private message past the burst not delayed")
	}
}

// TestSentRepliesLeaveNoBytes: a personal answer (a member's /moi, an organiser's list) is
// gone from the NATS store once sent: no file under the store directory holds its words.
// The store is an embedded server's, even when NATS_URL is set: the test reads its files.
func TestSentRepliesLeaveNoBytes(t *testing.T) {
	d := eventstest.OnDisk(t, events.DefaultLimits())
	env, dir := d.Env, d.Dir
	h := &harness{t: t, env: env, fake: tgtest.New(t), logs: &logBuffer{}}

	// A reply waiting for the WhatsApp adapter keeps the queue's block in use: a drained
	// queue has its block file removed whole, which would hide what acks leave behind.
	wa := events.Reply{V: events.Version, ID: "wa", Platform: events.WhatsApp, Chat: "33600000000@s.whatsapp.net", Text: "Bonjour"}
	if err := env.Pub.Reply(context.Background(), wa); err != nil {
		t.Fatal(err)
	}
	const sent, refused = "Philibertine Zébulonne", "Zorglubette Canari"
	h.reply(events.Reply{ID: "moi", Chat: "1001", Private: true, Text: "Ce que relais sait de vous : " + sent})
	h.reply(events.Reply{ID: "liste", Chat: "1002", Private: true, Text: "Relais : " + sent + " (12 messages)"})
	h.reply(events.Reply{ID: "perdu", Chat: "pas-un-chat", Private: true, Text: "Fiche : " + refused})
	waitFor(t, "the replies on disk", func() bool {
		return len(filesHolding(t, dir, sent)) > 0 && len(filesHolding(t, dir, refused)) > 0
	})

	stop := run(t, h.adapter().ServeReplies)
	waitFor(t, "replies settled", func() bool {
		return len(h.fake.Sent()) == 2 && h.repliesSettled() && h.env.StreamMsgs(t, h.env.Names.DLQStream()) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := h.env.StreamMsgs(t, h.env.Names.RepliesStream()); n != 1 {
		t.Fatalf("%d replies left in the stream, want the WhatsApp one", n)
	}
	d.Shutdown()
	if files := filesHolding(t, dir, sent); len(files) > 0 {
		t.Fatalf("sent replies still on disk in %v", files)
	}
	// The refused reply lives on as a dead letter (erased with its member), not in the queue.
	for _, f := range filesHolding(t, dir, refused) {
		if strings.Contains(f, h.env.Names.RepliesStream()) {
			t.Fatalf("a dead-lettered reply is still in the queue's files: %s", f)
		}
	}
}

// filesHolding lists the files under dir that contain text.
func filesHolding(t *testing.T, dir, text string) []string {
	t.Helper()
	return eventstest.FilesHolding(t, dir, false, text)[text]
}
