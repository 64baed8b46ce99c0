// Package reply makes the bot's answers to a command: in the chat it came from or privately
// to the sender, with ids derived from the command's event so that a redelivered command
// does not answer twice, and within the length of one message. Every feature of the
// commands answers through it.
package reply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/relais-bot/relais/events"
)

// MaxRunes is how long an answer may be: one message on every platform.
const MaxRunes = 4000

// Publisher publishes a reply; *events.Publisher does.
type Publisher interface {
	Reply(ctx context.Context, r events.Reply) error
}

// Texts are the words a Sender adds to answers.
type Texts struct {
	// StartMeFirst tells, in a Telegram group, someone the bot cannot write to privately
	// that they must start it first; %s is " (@bot)" or "".
	StartMeFirst string
	// AnsweredPrivately says in a group that the answer went privately.
	AnsweredPrivately string
}

// Sender makes and publishes answers.
type Sender struct {
	pub     Publisher
	botName string // without @; "" where the platform has none
	txt     Texts
}

// NewSender returns a Sender publishing through pub. botName is the bot's username, without
// @, where the platform has one.
func NewSender(pub Publisher, botName string, txt Texts) *Sender {
	return &Sender{pub: pub, botName: botName, txt: txt}
}

// ID derives a reply's id from the command's event id: a redelivered command publishes the
// same ids, which JetStream drops as duplicates. The event id is hashed, as it may hold
// platform identifiers.
func ID(ev events.Event, kind string) string {
	sum := sha256.Sum256([]byte(ev.ID))
	return "reply-" + hex.EncodeToString(sum[:12]) + "-" + kind
}

// Here answers in the chat the command came from.
func (s *Sender) Here(ev events.Event, kind, text string) events.Reply {
	if ev.Group == nil {
		return s.Private(ev, kind, text)
	}
	return events.Reply{V: events.Version, ID: ID(ev, kind), Platform: ev.Platform, Chat: ev.Group.ID, Text: text}
}

// Private answers in a private chat with the sender. On Telegram, a bot may only write to
// someone who started it: if they never did, the adapter tells them so in the group.
func (s *Sender) Private(ev events.Event, kind, text string) events.Reply {
	r := events.Reply{V: events.Version, ID: ID(ev, kind), Platform: ev.Platform, Chat: ev.Sender.ID, Private: true, Text: text}
	if ev.Platform == events.Telegram && ev.Group != nil {
		bot := ""
		if s.botName != "" {
			bot = " (@" + s.botName + ")"
		}
		r.FallbackChat = ev.Group.ID
		r.FallbackText = fmt.Sprintf(s.txt.StartMeFirst, bot)
	}
	return r
}

// SendPrivately sends a private answer and, when the command came from a group, says in the
// group that the answer went privately.
func (s *Sender) SendPrivately(ctx context.Context, ev events.Event, r events.Reply) error {
	if err := s.Send(ctx, r); err != nil {
		return err
	}
	if ev.Group == nil {
		return nil
	}
	return s.Send(ctx, s.Here(ev, "ack", s.txt.AnsweredPrivately))
}

// Send publishes an answer.
func (s *Sender) Send(ctx context.Context, r events.Reply) error {
	if err := s.pub.Reply(ctx, r); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	return nil
}

// Clip keeps an answer within one message.
func Clip(s string) string { return ClipTo(s, MaxRunes) }

// ClipTo keeps s within n runes, marking a cut with an ellipsis.
func ClipTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:max(n-1, 0)]) + "…"
}
