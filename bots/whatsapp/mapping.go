package whatsapp

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	waevents "go.mau.fi/whatsmeow/types/events"

	"github.com/relais-bot/relais/events"
)

// LIDs resolves a member's LID (opaque, stable id) to their phone-number JID and back.
// whatsmeow's store.LIDStore satisfies it; both lookups return an empty JID, not an error,
// when the pair is unknown (and an error when given the other kind of JID).
type LIDs interface {
	GetPNForLID(ctx context.Context, lid types.JID) (types.JID, error)
	GetLIDForPN(ctx context.Context, pn types.JID) (types.JID, error)
}

// Groups answers what the mapping needs to know about a group beyond the event itself.
type Groups interface {
	// Title is the group's name, "" when unknown.
	Title(ctx context.Context, chat types.JID) string
}

// Mapper turns whatsmeow events into relais events. It holds no state of its own: what it
// knows about groups and LIDs comes from its two lookups, so the same input and the same
// store always give the same output.
//
// One person is one member, whatever chat they write in: a member is keyed by their LID
// whenever the event or the LID store gives it, else by their phone-number JID. When both
// are known the event's member also carries the phone-number id as Alias, byte for byte the
// id an event gave them while only the phone was known, so the bridge merges the two.
type Mapper struct {
	LIDs   LIDs   // nil: only what each event carries
	Groups Groups // nil: no titles
	// Self are the bot's own JIDs (phone and LID): the bot is never a member.
	Self []types.JID
}

// Map returns the events a whatsmeow event stands for: none for anything that is not group
// activity (receipts, presence, history sync, status updates, revokes...). An error means a
// lookup failed and the event should be handled again later.
func (m Mapper) Map(ctx context.Context, evt any) ([]events.Event, error) {
	switch e := evt.(type) {
	case *waevents.Message:
		return m.message(ctx, e)
	case *waevents.GroupInfo:
		return m.groupInfo(ctx, e)
	}
	// JoinedGroup only teaches the group's title (see groupBook.Learn); HistorySync
	// is never replayed as live activity.
	return nil, nil
}

// live reports whether a message is someone's live activity in a chat relais follows.
func live(e *waevents.Message) bool {
	info := e.Info
	switch {
	case e.Message == nil, info.IsFromMe:
		return false
	// Parsed from a history sync blob: old activity, not live. A message re-requested from
	// the phone because it could not be decrypted also carries SourceWebMsg, and is live.
	case e.SourceWebMsg != nil && e.UnavailableRequestID == "":
		return false
	case info.IsNewsletterStatus:
		return false
	}
	switch info.Chat.Server {
	case types.GroupServer:
		return info.IsGroup
	case types.DefaultUserServer, types.HiddenUserServer:
		return true
	}
	// status@broadcast, broadcast lists, newsletters, bots.
	return false
}

func (m Mapper) message(ctx context.Context, e *waevents.Message) ([]events.Event, error) {
	return m.mapMessage(ctx, e, false)
}

// mapMessage maps a live message, or with past a message of a history sync (history.go).
func (m Mapper) mapMessage(ctx context.Context, e *waevents.Message, past bool) ([]events.Event, error) {
	if (!past && !live(e)) || (past && !pastGroupMessage(e)) || e.Info.Timestamp.IsZero() {
		return nil, nil
	}
	info := e.Info
	chat := info.Chat.ToNonAD()
	group := chat.Server == types.GroupServer
	content, id := e.Message, info.ID
	if pm := content.GetProtocolMessage(); pm != nil {
		if pm.GetType() != waE2E.ProtocolMessage_MESSAGE_EDIT || pm.GetEditedMessage() == nil || pm.GetKey().GetID() == "" {
			// Revokes publish nothing: counts are not decremented. Other protocol messages
			// (ephemeral settings, key shares, history sync notices) are not activity.
			return nil, nil
		}
		// An edit carries the original's id, so it dedups against the original in the
		// stream and is never counted twice.
		content, id = pm.GetEditedMessage(), pm.GetKey().GetID()
	}
	content = unwrap(content)
	if m.isSelf(info.Sender) || m.isSelf(info.SenderAlt) {
		return nil, nil
	}
	who, err := m.resolve(ctx, info.Sender, info.SenderAlt)
	if err != nil {
		return nil, err
	}
	sender := who.key()
	if sender.IsEmpty() {
		return nil, nil
	}
	ev := events.Event{
		V:        events.Version,
		Platform: events.WhatsApp,
		At:       info.Timestamp.UTC(),
		Sender:   who.member(pushName(info.PushName)),
	}
	if r := content.GetReactionMessage(); r != nil {
		target := r.GetKey().GetID()
		// An empty text removes a reaction; a changed reaction keeps the same id and dedups.
		if !group || r.GetText() == "" || target == "" {
			return nil, nil
		}
		ev.ID = fmt.Sprintf("whatsapp:%s:%s:reaction:%s", chat.User, target, sender.User)
		ev.Kind = events.KindReaction
		ev.Target = target
		if p := r.GetKey().GetParticipant(); p != "" {
			if ev.ReplyTo, err = m.normalise(ctx, p); err != nil {
				return nil, err
			}
		}
		ev.Group = m.group(ctx, chat)
		return []events.Event{ev}, nil
	}
	text, counted := body(content)
	if !counted {
		return nil, nil
	}
	// The text never leaves the adapter: a known command keeps its name and the bounded
	// argument it takes (events.ParseCommand); anything else, an unknown "/word" or "!word"
	// or "/cmd@somebot" included (WhatsApp bots have no names), is talk and keeps its length.
	cmd, isCmd := events.ParseCommand(text, "")
	if !group {
		if d := content.GetDocumentMessage(); d != nil {
			// A file sent privately is an organiser's chat export, or nothing: the bridge
			// answers it (it does not fetch WhatsApp files; see README). Only a handle, the
			// extension and the size leave the adapter, never the name or the content.
			ev.ID = fmt.Sprintf("whatsapp:dm:%s:%s", sender.User, id)
			ev.Kind, ev.Command = events.KindCommand, &events.Command{Name: events.UploadCommand}
			ev.Document = &events.Document{FileID: "whatsapp:" + id, Ext: events.DocumentExt(d.GetFileName()), Size: int64(min(d.GetFileLength(), 1<<62)), Message: id}
			if _, err := events.Encode(ev); err != nil {
				return nil, nil // an id too long for a handle: not an export we could take
			}
			return []events.Event{ev}, nil
		}
		// A private message is not group activity; only a known command to the bot is an
		// event, or an answer word to a campaign ("1", "ENVOYER": WhatsApp has no buttons),
		// read as the command it stands for. Other private text is nothing.
		if !isCmd {
			cmd, isCmd = events.ParseReplyWord(text)
		}
		if !isCmd {
			return nil, nil
		}
		ev.ID = fmt.Sprintf("whatsapp:dm:%s:%s", sender.User, id)
		ev.Kind = events.KindCommand
		ev.Command = &cmd
		return []events.Event{ev}, nil
	}
	ev.ID = fmt.Sprintf("whatsapp:%s:%s", chat.User, id)
	if isCmd {
		// A command is not activity: like on Telegram, it carries no length, reply or mention.
		ev.Kind = events.KindCommand
		ev.Command = &cmd
		ev.Group = m.group(ctx, chat)
		return []events.Event{ev}, nil
	}
	ev.Kind = events.KindMessage
	ev.Chars = utf8.RuneCountInString(text)
	if ci := contextInfo(content); ci != nil {
		ev.Target = ci.GetStanzaID()
		if p := ci.GetParticipant(); p != "" {
			if ev.ReplyTo, err = m.normalise(ctx, p); err != nil {
				return nil, err
			}
		}
		for _, s := range ci.GetMentionedJID() {
			id, err := m.normalise(ctx, s)
			if err != nil {
				return nil, err
			}
			if id != "" && !slices.Contains(ev.Mentions, id) {
				ev.Mentions = append(ev.Mentions, id)
			}
		}
	}
	ev.Group = m.group(ctx, chat)
	return []events.Event{ev}, nil
}

func (m Mapper) groupInfo(ctx context.Context, e *waevents.GroupInfo) ([]events.Event, error) {
	chat := e.JID.ToNonAD()
	if chat.Server != types.GroupServer || e.Timestamp.IsZero() {
		return nil, nil
	}
	group := m.group(ctx, chat)
	var out []events.Event
	add := func(kind events.Kind, jids []types.JID) error {
		for _, j := range jids {
			if m.isSelf(j) {
				continue
			}
			who, err := m.resolve(ctx, j, types.EmptyJID)
			if err != nil {
				return err
			}
			member := who.key()
			if member.IsEmpty() {
				continue
			}
			out = append(out, events.Event{
				V:        events.Version,
				ID:       fmt.Sprintf("whatsapp:%s:%s:%s:%d", chat.User, kind, member.User, e.Timestamp.Unix()),
				Kind:     kind,
				Platform: events.WhatsApp,
				At:       e.Timestamp.UTC(),
				Group:    group,
				Sender:   who.member(""),
			})
		}
		return nil
	}
	if err := add(events.KindJoin, e.Join); err != nil {
		return nil, err
	}
	if err := add(events.KindLeave, e.Leave); err != nil {
		return nil, err
	}
	return out, nil
}

func (m Mapper) group(ctx context.Context, chat types.JID) *events.Group {
	g := &events.Group{ID: chat.String()}
	if m.Groups != nil {
		g.Title = m.Groups.Title(ctx, chat)
	}
	return g
}

// person is who a JID stands for, as far as the event and the LID store know: their LID and
// their phone-number JID, both without device, either possibly empty.
type person struct{ lid, pn types.JID }

// pair sorts JIDs into a person: the first LID and the first phone-number JID among them.
// Anything else (groups, bots, hosted business accounts, a JID without user) is no one.
func pair(jids ...types.JID) person {
	var p person
	for _, j := range jids {
		j = j.ToNonAD()
		if j.User == "" {
			continue
		}
		switch j.Server {
		case types.HiddenUserServer:
			if p.lid.IsEmpty() {
				p.lid = j
			}
		case types.DefaultUserServer:
			if p.pn.IsEmpty() {
				p.pn = j
			}
		}
	}
	return p
}

// key is the JID a member is keyed by: their LID whenever it is known, else their phone JID;
// empty when the person is no one.
func (p person) key() types.JID { return firstJID(p.lid, p.pn) }

// member is p as an event's sender. ID is the key's id; Alias is the phone-number id when
// the LID is known too (the very id events gave this person before their LID was known);
// Phone is the number in E.164.
func (p person) member(name string) events.Member {
	mb := events.Member{ID: memberID(p.key()), Name: name, Phone: e164(p.pn)}
	if !p.lid.IsEmpty() && !p.pn.IsEmpty() {
		mb.Alias = memberID(p.pn)
	}
	return mb
}

// memberID is the platform id of a member JID: the JID without device, "<lid>@lid" or
// "<phone>@s.whatsapp.net". Sender.ID, Sender.Alias, reply_to and mentions all come from it.
func memberID(j types.JID) string {
	if j.IsEmpty() {
		return ""
	}
	return j.ToNonAD().String()
}

// resolve returns the person jid stands for, with both their LID and phone when known. alt
// is the other form when the event carries it (SenderAlt); what is still missing comes from
// whatsmeow's LID store.
func (m Mapper) resolve(ctx context.Context, jid, alt types.JID) (person, error) {
	p, err := m.withLID(ctx, pair(jid, alt))
	if err != nil {
		return person{}, err
	}
	if p.pn.IsEmpty() && !p.lid.IsEmpty() && m.LIDs != nil {
		pn, err := m.LIDs.GetPNForLID(ctx, p.lid)
		if err != nil {
			return person{}, fmt.Errorf("pn for lid: %w", err)
		}
		p.pn = pair(pn).pn
	}
	return p, nil
}

// withLID completes a person known only by phone with the LID the store maps it to.
func (m Mapper) withLID(ctx context.Context, p person) (person, error) {
	if p.lid.IsEmpty() && !p.pn.IsEmpty() && m.LIDs != nil {
		lid, err := m.LIDs.GetLIDForPN(ctx, p.pn)
		if err != nil {
			return person{}, fmt.Errorf("lid for pn: %w", err)
		}
		p.lid = pair(lid).lid
	}
	return p, nil
}

// normalise maps a JID string from a ContextInfo (quoted participant, mention) to the id of
// the member it names: their LID id whenever the store knows it, so a reply or a mention
// credits the same member whichever form it came in.
func (m Mapper) normalise(ctx context.Context, s string) (string, error) {
	j, err := types.ParseJID(s)
	if err != nil || m.isSelf(j) {
		return "", nil // a malformed JID from the wire is skipped, not retried
	}
	p, err := m.withLID(ctx, pair(j))
	if err != nil {
		return "", err
	}
	return memberID(p.key()), nil
}

func (m Mapper) isSelf(j types.JID) bool {
	if j.IsEmpty() {
		return false
	}
	j = j.ToNonAD()
	for _, s := range m.Self {
		if !s.IsEmpty() && s.ToNonAD() == j {
			return true
		}
	}
	return false
}

func firstJID(a, b types.JID) types.JID {
	if !a.IsEmpty() {
		return a
	}
	return b
}

// e164 returns the phone number of a phone-number JID, or "" for anything else. A redacted
// display name ("+33∙∙∙∙∙∙∙12") is never a phone number and never reaches here.
func e164(pn types.JID) string {
	if pn.Server != types.DefaultUserServer || len(pn.User) < 7 || len(pn.User) > 15 || pn.User[0] == '0' {
		return ""
	}
	if _, err := strconv.ParseUint(pn.User, 10, 64); err != nil {
		return ""
	}
	return "+" + pn.User
}

// pushName drops WhatsApp's placeholder for "no name".
func pushName(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// unwrap opens the wrappers whatsmeow's UnwrapRaw leaves closed.
func unwrap(m *waE2E.Message) *waE2E.Message {
	for range 4 {
		switch {
		case m.GetGroupMentionedMessage().GetMessage() != nil:
			m = m.GetGroupMentionedMessage().GetMessage()
		case m.GetSpoilerMessage().GetMessage() != nil:
			m = m.GetSpoilerMessage().GetMessage()
		case m.GetEphemeralMessage().GetMessage() != nil:
			m = m.GetEphemeralMessage().GetMessage()
		case m.GetDocumentWithCaptionMessage().GetMessage() != nil:
			m = m.GetDocumentWithCaptionMessage().GetMessage()
		default:
			return m
		}
	}
	return m
}

// body returns the text or caption of a message someone wrote, and whether the message counts
// as activity at all (text, media, location, contact, poll). Only its length leaves the adapter.
func body(m *waE2E.Message) (string, bool) {
	switch {
	case m == nil:
		return "", false
	case m.Conversation != nil:
		return m.GetConversation(), true
	case m.ExtendedTextMessage != nil:
		return m.GetExtendedTextMessage().GetText(), true
	case m.ImageMessage != nil:
		return m.GetImageMessage().GetCaption(), true
	case m.VideoMessage != nil:
		return m.GetVideoMessage().GetCaption(), true
	case m.PtvMessage != nil:
		return m.GetPtvMessage().GetCaption(), true
	case m.DocumentMessage != nil:
		return m.GetDocumentMessage().GetCaption(), true
	case m.AudioMessage != nil, m.StickerMessage != nil, m.LocationMessage != nil,
		m.LiveLocationMessage != nil, m.ContactMessage != nil, m.ContactsArrayMessage != nil,
		m.PollCreationMessage != nil, m.PollCreationMessageV2 != nil, m.PollCreationMessageV3 != nil,
		m.EventMessage != nil:
		return "", true
	}
	return "", false
}

type withContext interface {
	GetContextInfo() *waE2E.ContextInfo
}

// contextInfo returns the reply and mention data of a message, wherever its kind keeps it.
func contextInfo(m *waE2E.Message) *waE2E.ContextInfo {
	for _, part := range []withContext{
		m.GetExtendedTextMessage(), m.GetImageMessage(), m.GetVideoMessage(), m.GetPtvMessage(),
		m.GetDocumentMessage(), m.GetAudioMessage(), m.GetStickerMessage(), m.GetLocationMessage(),
		m.GetLiveLocationMessage(), m.GetContactMessage(), m.GetContactsArrayMessage(),
		m.GetPollCreationMessage(), m.GetPollCreationMessageV2(), m.GetPollCreationMessageV3(),
	} {
		if ci := part.GetContextInfo(); ci != nil {
			return ci
		}
	}
	return nil
}
