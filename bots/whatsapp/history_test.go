package whatsapp

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/relais-bot/relais/events"
)

const historyCanary = "CANARI-sync"

// webMsg is a message as a history sync carries it.
func webMsg(chat, sender types.JID, id string, at time.Time, m *waE2E.Message, fromMe bool) *waHistorySync.HistorySyncMsg {
	return &waHistorySync.HistorySyncMsg{Message: &waWeb.WebMessageInfo{
		Key:              &waCommon.MessageKey{RemoteJID: proto.String(chat.String()), FromMe: proto.Bool(fromMe), ID: proto.String(id), Participant: proto.String(sender.String())},
		MessageTimestamp: proto.Uint64(uint64(at.Unix())),
		PushName:         proto.String("Nom " + sender.User),
		Message:          m,
	}}
}

func historySync(since time.Time) *waevents.HistorySync {
	text := func(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }
	quote := &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text:        proto.String("oui " + historyCanary),
		ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("A1"), Participant: proto.String(alicePN.String()), MentionedJID: []string{carolPN.String()}},
	}}
	return &waevents.HistorySync{Data: &waHistorySync.HistorySync{
		SyncType: waHistorySync.HistorySync_INITIAL_BOOTSTRAP.Enum(),
		Conversations: []*waHistorySync.Conversation{{
			ID: proto.String(pnGroup.String()),
			Messages: []*waHistorySync.HistorySyncMsg{
				webMsg(pnGroup, alicePN, "A1", since.Add(2*time.Hour), text("bonjour "+historyCanary), false),
				webMsg(pnGroup, bobPN, "B1", since.Add(3*time.Hour), quote, false),
				webMsg(pnGroup, carolPN, "C1", since.Add(4*time.Hour), text("/stats"), false),                  // a command: not imported
				webMsg(pnGroup, erinPN, "E1", since.Add(-time.Hour), text("trop vieux "+historyCanary), false), // before since
				webMsg(pnGroup, botPN, "S1", since.Add(5*time.Hour), text("moi "+historyCanary), true),         // the bot's own
			},
		}, {
			ID:       proto.String(alicePN.String()), // a private chat: not group activity
			Messages: []*waHistorySync.HistorySyncMsg{webMsg(alicePN, alicePN, "P1", since.Add(time.Hour), text("privé "+historyCanary), false)},
		}},
	}}
}

// TestHistoryEventsFromWhatsmeowTypes maps a history sync built with whatsmeow's own types
// and parsed by whatsmeow's ParseWebMessage: group messages become events as live ones would
// (same ids, lengths, members, the quoted message as the reply and its author credited, the
// mention), and commands, the bot's own messages, private chats and what is older than since
// are left out; no text survives.
func TestHistoryEventsFromWhatsmeowTypes(t *testing.T) {
	since := t0
	m := testMapper(t)
	evs, skipped := m.HistoryEvents(context.Background(), historySync(since), (&whatsmeow.Client{}).ParseWebMessage, since)
	if len(evs) != 2 || skipped != 4 {
		t.Fatalf("%d events, %d skipped, want 2 and 4: %+v", len(evs), skipped, evs)
	}
	alice, bob := evs[0], evs[1]
	if alice.ID != "whatsapp:"+pnGroup.User+":A1" || alice.Kind != events.KindMessage || alice.Chars != len("bonjour "+historyCanary) {
		t.Errorf("alice: %+v", alice)
	}
	if alice.Group == nil || alice.Group.Title != "Quartier Nord" {
		t.Errorf("group: %+v", alice.Group)
	}
	if bob.ReplyTo != alice.Sender.ID || bob.Target != "A1" || len(bob.Mentions) != 1 {
		t.Errorf("bob's quote is no reply to alice (%s): %+v", alice.Sender.ID, bob)
	}
	// The same message live gives the same event: the stream dedups one against the other.
	live, err := m.Map(context.Background(), &waevents.Message{
		Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: pnGroup, Sender: alicePN, IsGroup: true},
			ID: "A1", PushName: "Nom " + alicePN.User, Timestamp: since.Add(2 * time.Hour)},
		Message: &waE2E.Message{Conversation: proto.String("bonjour " + historyCanary)},
	})
	if err != nil || len(live) != 1 || live[0].ID != alice.ID || live[0].Sender.ID != alice.Sender.ID || !live[0].At.Equal(alice.At) {
		t.Errorf("live %+v (%v), history %+v", live, err, alice)
	}
	for _, ev := range evs {
		raw, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), historyCanary) {
			t.Errorf("text in an event: %s", raw)
		}
	}
}

// TestIngestHandsHistoryToTheSink: a history sync reaching the event handler is mapped and
// handed to the sink (off the event loop), nothing is published live.
func TestIngestHandsHistoryToTheSink(t *testing.T) {
	got := make(chan []events.Event, 1)
	in := &ingest{ctx: context.Background(), mapper: testMapper(t), log: slog.New(slog.DiscardHandler),
		parse:        (&whatsmeow.Client{}).ParseWebMessage,
		historySince: func() time.Time { return t0 },
		history: func(_ context.Context, evs []events.Event) error {
			got <- evs
			return nil
		}}
	if !in.Handle(historySync(t0)) {
		t.Fatal("a history sync was not acknowledged")
	}
	select {
	case evs := <-got:
		if len(evs) != 2 {
			t.Errorf("sink got %d events, want 2", len(evs))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sink was never called")
	}
}
