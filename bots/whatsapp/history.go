package whatsapp

import (
	"context"
	"time"

	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"

	"github.com/relais-bot/relais/events"
)

// WhatsApp's history sync (sent by the phone at pairing and on reconnection) is a group's
// past: its messages are mapped as live ones (quoted messages are replies, mentions are
// mentions) and handed to a HistorySink, which imports them through relais's history path
// (package history: only groups relais knows, only what is older than live, without text;
// relais run passes history.Importer.ImportEvents). The adapter keeps no rule of its own.

// HistorySink imports the events of one history sync. It is called off whatsmeow's event
// loop; an error is logged (the phone sends the history again on a later pairing).
type HistorySink func(ctx context.Context, evs []events.Event) error

// pastGroupMessage reports whether a message of a history sync is someone's activity in a
// group: the live test without the "not from a history sync" part.
func pastGroupMessage(e *waevents.Message) bool {
	info := e.Info
	return e.Message != nil && !info.IsFromMe && info.IsGroup && info.Chat.Server == types.GroupServer
}

// ParseWeb is whatsmeow's Client.ParseWebMessage: a history sync's message as a live one.
type ParseWeb func(chat types.JID, msg *waWeb.WebMessageInfo) (*waevents.Message, error)

// HistoryEvents maps the group conversations of a history sync to events, leaving out
// messages older than since, commands (typed before relais listened, they asked nothing of
// it) and anything that is not group activity. It returns the events and how many messages
// it left out.
func (m Mapper) HistoryEvents(ctx context.Context, hs *waevents.HistorySync, parse ParseWeb, since time.Time) ([]events.Event, int) {
	var out []events.Event
	skipped := 0
	if hs == nil || hs.Data == nil {
		return nil, 0
	}
	for _, conv := range hs.Data.GetConversations() {
		chat, err := types.ParseJID(conv.GetID())
		if err != nil || chat.Server != types.GroupServer {
			skipped += len(conv.GetMessages())
			continue
		}
		for _, hm := range conv.GetMessages() {
			web := hm.GetMessage()
			if web == nil || time.Unix(int64(web.GetMessageTimestamp()), 0).Before(since) {
				skipped++
				continue
			}
			msg, err := parse(chat, web)
			if err != nil {
				skipped++
				continue
			}
			evs, err := m.mapMessage(ctx, msg, true)
			if err != nil {
				skipped++
				continue
			}
			for _, ev := range evs {
				if ev.Kind == events.KindCommand || ev.Group == nil {
					skipped++
					continue
				}
				out = append(out, ev)
			}
		}
	}
	return out, skipped
}

// importHistory maps a history sync and hands it to the sink, off the event loop.
func (in *ingest) importHistory(hs *waevents.HistorySync) {
	if in.history == nil || in.parse == nil {
		return
	}
	since := time.Time{}
	if in.historySince != nil {
		since = in.historySince()
	}
	evs, skipped := in.mapper.HistoryEvents(in.ctx, hs, in.parse, since)
	if len(evs) == 0 {
		return
	}
	go func() {
		if err := in.history(in.ctx, evs); err != nil {
			in.log.Warn("whatsapp: history sync not imported", "events", len(evs), "err", maskDigits(err.Error()))
			return
		}
		in.log.Info("whatsapp: history sync imported", "events", len(evs), "skipped", skipped)
	}()
}
