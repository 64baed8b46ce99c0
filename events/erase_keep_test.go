package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// TestEraseMemberKeepsTheCommand: the command asking for the erasure stays in the log for
// its caller to delete last; the member's other events go.
func TestEraseMemberKeepsTheCommand(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	lea := events.Member{ID: "777", Name: "Léa Exemple"}
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	publish := func(ev events.Event) uint64 {
		t.Helper()
		m, err := env.Pub.EventMsg(ev)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := env.JS.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	msg := publish(events.Event{V: events.Version, ID: "telegram:777:1", Kind: events.KindMessage,
		Platform: events.Telegram, At: at, Sender: lea, Chars: 12})
	cmd := publish(events.Event{V: events.Version, ID: "telegram:777:2", Kind: events.KindCommand,
		Platform: events.Telegram, At: at.Add(time.Minute), Sender: lea, Command: &events.Command{Name: "oubli"}})

	who := events.ErasedMember{Token: env.Hasher.Member(events.Telegram, lea.ID), Platform: events.Telegram,
		PlatformID: lea.ID, Names: []string{lea.Name}, Pseudonym: "~p", KeepSeq: cmd}
	rep, err := events.EraseMember(ctx, env.JS, env.Pub, who)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OwnEvents != 1 {
		t.Errorf("%d own events erased, want 1", rep.OwnEvents)
	}
	s, err := env.JS.Stream(ctx, env.Names.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMsg(ctx, msg); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("her message: %v, want deleted", err)
	}
	if _, err := s.GetMsg(ctx, cmd); err != nil {
		t.Errorf("the command was not kept: %v", err)
	}
}
