package telegram

import (
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/relais-bot/relais/events"
)

// Telegram's pseudo-senders: they post for anonymous admins, linked channels and Telegram
// itself, and are nobody's membership.
const (
	groupAnonymousBot = 1087968824
	channelBot        = 136817688
	telegramService   = 777000
)

// maxMentions bounds the mentions of one event; a message naming more people is a list, not
// a conversation.
const maxMentions = 32

// mapper turns updates into events. Its only state is supergroup migrations: which old chat
// became which new one (for replies), and which new chat has not yet told the bridge where
// its history comes from.
type mapper struct {
	bot   string // the bot's username, for /cmd@bot
	botID int64

	mu          sync.Mutex
	migratedTo  map[int64]int64 // old chat → new chat
	pendingFrom map[int64]int64 // new chat → old chat, until an event carries it
}

func newMapper(botUsername string, botID int64) *mapper {
	return &mapper{bot: botUsername, botID: botID, migratedTo: map[int64]int64{}, pendingFrom: map[int64]int64{}}
}

// Map returns the events of one update, each valid and encodable. Choices the contract leaves
// open, made here:
//   - Chars counts Unicode code points (runes) of the text or caption, not UTF-16 units: it
//     is what a person would call characters, and is the same on WhatsApp.
//   - An edited message maps to the id of the original, so it dedupes and counts once; an
//     edit is never a command (editing "/stats" is not asking twice).
//   - A command is what events.ParseCommand accepts: a known name, addressed to no bot or
//     to this one, and its event keeps only the bounded argument that name takes.
//   - "/cmd@otherbot", and a "/word" or "!word" relais does not know, are not ours: they
//     count as a message (length, reply, mentions), because the member did speak.
//   - Replying to or mentioning oneself names nobody.
//   - Private chats carry only known commands and the member's own shared contact: any
//     other private text, an unknown "/word" included, is nothing.
func (m *mapper) Map(u Update) []events.Event {
	var evs []events.Event
	switch {
	case u.Message != nil:
		evs = m.message(u.Message, u.Topic, false)
	case u.EditedMessage != nil:
		evs = m.message(u.EditedMessage, u.Topic, true)
	case u.ChatMember != nil:
		evs = m.chatMember(u.ChatMember)
	case u.MessageReaction != nil:
		evs = m.reaction(u.MessageReaction)
	case u.CallbackQuery != nil:
		evs = m.callback(u.CallbackQuery)
	}
	out := evs[:0]
	for _, e := range evs {
		if _, err := events.Encode(e); err == nil {
			out = append(out, e)
		}
	}
	m.attachMigration(out)
	return out
}

// MapUpdate maps one raw update as the live adapter of bot botUsername (id botID) would, with
// no migration known. It lets other producers of Telegram events (the history import) test
// that they give a message the same id and fields as its live event: that equality is what
// makes JetStream's deduplication count a message once.
func MapUpdate(raw []byte, botUsername string, botID int64) ([]events.Event, error) {
	u, err := DecodeUpdate(raw)
	if err != nil {
		return nil, err
	}
	return newMapper(botUsername, botID).Map(u), nil
}

// Migrated returns the chat that replaced chat, following chains of upgrades.
func (m *mapper) Migrated(chat int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range 8 { // a chat upgrades at most once; the bound only guards against a cycle
		to, ok := m.migratedTo[chat]
		if !ok {
			break
		}
		chat = to
	}
	return chat
}

func (m *mapper) rememberMigration(from, to int64, pending bool) {
	if from == 0 || to == 0 || from == to {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.migratedTo[from] = to
	if pending {
		m.pendingFrom[to] = from
	}
}

// restoreMigration undoes attachMigration for events that were not stored, so the update's
// redelivery carries the migration again.
func (m *mapper) restoreMigration(evs []events.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range evs {
		if e.Group == nil || e.Group.MigratedFrom == "" {
			continue
		}
		to, err1 := strconv.ParseInt(e.Group.ID, 10, 64)
		from, err2 := strconv.ParseInt(e.Group.MigratedFrom, 10, 64)
		if err1 == nil && err2 == nil {
			m.pendingFrom[to] = from
		}
	}
}

func (m *mapper) attachMigration(evs []events.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pendingFrom) == 0 {
		return
	}
	for i := range evs {
		g := evs[i].Group
		if g == nil {
			continue
		}
		id, err := strconv.ParseInt(g.ID, 10, 64)
		if err != nil {
			continue
		}
		if from, ok := m.pendingFrom[id]; ok {
			g.MigratedFrom = strconv.FormatInt(from, 10)
			delete(m.pendingFrom, id)
		}
	}
}

func (m *mapper) message(msg *tgbotapi.Message, topic topicInfo, edited bool) []events.Event {
	if msg.Chat == nil {
		return nil
	}
	switch msg.Chat.Type {
	case "private":
		if edited {
			return nil
		}
		return m.private(msg)
	case "group", "supergroup":
	default:
		return nil // channels: posts there are nobody's membership
	}
	chat := msg.Chat.ID
	if msg.MigrateToChatID != 0 {
		m.rememberMigration(chat, msg.MigrateToChatID, true)
		return nil
	}
	if msg.MigrateFromChatID != 0 {
		m.rememberMigration(msg.MigrateFromChatID, chat, true)
		return nil
	}
	at := unixTime(int64(msg.Date))
	group := &events.Group{ID: strconv.FormatInt(chat, 10), Title: msg.Chat.Title}
	if len(msg.NewChatMembers) > 0 || msg.LeftChatMember != nil {
		var evs []events.Event
		for i := range msg.NewChatMembers {
			if u := &msg.NewChatMembers[i]; isMember(u) {
				evs = append(evs, membership(events.KindJoin, chat, u, at, group))
			}
		}
		if u := msg.LeftChatMember; isMember(u) {
			evs = append(evs, membership(events.KindLeave, chat, u, at, group))
		}
		return evs
	}
	if !isMember(msg.From) || msg.SenderChat != nil || msg.IsAutomaticForward || !hasContent(msg) {
		return nil
	}
	e := events.Event{
		V:        events.Version,
		ID:       "telegram:" + strconv.FormatInt(chat, 10) + ":" + strconv.Itoa(msg.MessageID),
		Platform: events.Telegram,
		At:       at,
		Group:    group,
		Sender:   member(msg.From),
	}
	if msg.Text != "" {
		if cmd, ok := events.ParseCommand(msg.Text, m.bot); ok {
			if edited {
				return nil
			}
			e.Kind, e.Command = events.KindCommand, &cmd
			return []events.Event{e}
		}
	}
	text, ents := msg.Text, msg.Entities
	if text == "" {
		text, ents = msg.Caption, msg.CaptionEntities
	}
	e.Kind = events.KindMessage
	e.Chars = utf8.RuneCountInString(text)
	if r := msg.ReplyToMessage; r != nil && !(topic.TopicMessage && r.MessageID == topic.ThreadID) {
		// In a forum, every message of a topic "replies" to the topic's first message:
		// that is where it was posted, not whom it answers.
		e.Target = strconv.Itoa(r.MessageID)
		if isMember(r.From) && r.SenderChat == nil && r.From.ID != msg.From.ID {
			e.ReplyTo = strconv.FormatInt(r.From.ID, 10)
		}
	}
	e.Mentions = m.mentions(text, ents, msg.From)
	return []events.Event{e}
}

func (m *mapper) private(msg *tgbotapi.Message) []events.Event {
	from := msg.From
	if !isMember(from) || msg.Chat.ID != from.ID {
		return nil
	}
	e := events.Event{
		V:        events.Version,
		ID:       "telegram:dm:" + strconv.FormatInt(from.ID, 10) + ":" + strconv.Itoa(msg.MessageID),
		Platform: events.Telegram,
		At:       unixTime(int64(msg.Date)),
		Sender:   member(from),
	}
	if c := msg.Contact; c != nil {
		// Anyone can share someone else's contact card; only one's own number is consent.
		if c.UserID != from.ID {
			return nil
		}
		phone, ok := normalisePhone(c.PhoneNumber)
		if !ok {
			return nil
		}
		e.Kind, e.Sender.Phone = events.KindConsent, phone
		return []events.Event{e}
	}
	if d := msg.Document; d != nil {
		// A file sent privately is an organiser's chat export, or nothing: the bridge, which
		// knows organisers, fetches it by its handle. Its caption stays here, and its name but
		// for the chat a WhatsApp export's name gives (its group: the file carries no id).
		e.Kind, e.Command = events.KindCommand, &events.Command{Name: events.UploadCommand}
		e.Document = &events.Document{FileID: d.FileID, Ext: events.DocumentExt(d.FileName), Size: int64(max(d.FileSize, 0)),
			Message: strconv.Itoa(msg.MessageID), Chat: events.ExportChat(d.FileName)}
		return []events.Event{e}
	}
	if cmd, ok := events.ParseCommand(msg.Text, m.bot); ok {
		e.Kind, e.Command = events.KindCommand, &cmd
		return []events.Event{e}
	}
	return nil
}

func (m *mapper) chatMember(cm *tgbotapi.ChatMemberUpdated) []events.Event {
	if cm.Chat.Type != "group" && cm.Chat.Type != "supergroup" {
		return nil
	}
	u := cm.NewChatMember.User
	if !isMember(u) {
		return nil
	}
	group := &events.Group{ID: strconv.FormatInt(cm.Chat.ID, 10), Title: cm.Chat.Title}
	at := unixTime(int64(cm.Date))
	was, is := inChat(cm.OldChatMember), inChat(cm.NewChatMember)
	switch {
	case !was && is:
		return []events.Event{membership(events.KindJoin, cm.Chat.ID, u, at, group)}
	case was && !is:
		return []events.Event{membership(events.KindLeave, cm.Chat.ID, u, at, group)}
	}
	return nil // promotions, restrictions: still a member
}

func (m *mapper) reaction(r *MessageReaction) []events.Event {
	if r.Chat.Type != "group" && r.Chat.Type != "supergroup" {
		return nil
	}
	// A removed reaction (empty list) is not activity; an anonymous one has no member.
	if !isMember(r.User) || r.ActorChat != nil || len(r.NewReaction) == 0 {
		return nil
	}
	chat := strconv.FormatInt(r.Chat.ID, 10)
	return []events.Event{{
		V:        events.Version,
		ID:       "telegram:" + chat + ":" + strconv.Itoa(r.MessageID) + ":reaction:" + strconv.FormatInt(r.User.ID, 10),
		Kind:     events.KindReaction,
		Platform: events.Telegram,
		At:       unixTime(r.Date),
		Group:    &events.Group{ID: chat, Title: r.Chat.Title},
		Sender:   member(r.User),
		Target:   strconv.Itoa(r.MessageID),
	}}
}

// mentions reads mention entities. Offsets count UTF-16 code units; an entity outside the
// text is skipped, never trusted.
func (m *mapper) mentions(text string, ents []tgbotapi.MessageEntity, from *tgbotapi.User) []string {
	var (
		units []uint16
		out   []string
		seen  = map[string]bool{}
	)
	add := func(s string) {
		if !seen[s] && len(out) < maxMentions {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, ent := range ents {
		switch ent.Type {
		case "text_mention":
			if isMember(ent.User) && ent.User.ID != from.ID {
				add(strconv.FormatInt(ent.User.ID, 10))
			}
		case "mention":
			if units == nil {
				units = utf16.Encode([]rune(text))
			}
			name, ok := sliceUTF16(units, ent.Offset, ent.Length)
			if !ok || !ValidMention(name) {
				continue
			}
			name = strings.ToLower(name)
			if strings.EqualFold(name[1:], m.bot) || strings.EqualFold(name[1:], from.UserName) {
				continue
			}
			add(name)
		}
	}
	return out
}

func sliceUTF16(units []uint16, offset, length int) (string, bool) {
	if offset < 0 || length <= 0 || offset > len(units) || length > len(units)-offset {
		return "", false
	}
	return string(utf16.Decode(units[offset : offset+length])), true
}

// ValidMention is "@" and a Telegram username: letters, digits and underscores. History
// imports (bots/telegram/export) keep the mentions live events keep.
func ValidMention(s string) bool {
	if len(s) < 2 || len(s) > 33 || s[0] != '@' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func membership(kind events.Kind, chat int64, u *tgbotapi.User, at time.Time, group *events.Group) events.Event {
	return events.Event{
		V:        events.Version,
		ID:       "telegram:" + strconv.FormatInt(chat, 10) + ":" + string(kind) + ":" + strconv.FormatInt(u.ID, 10) + ":" + strconv.FormatInt(at.Unix(), 10),
		Kind:     kind,
		Platform: events.Telegram,
		At:       at,
		Group:    &events.Group{ID: group.ID, Title: group.Title},
		Sender:   member(u),
	}
}

// isMember says whether u is a person: not a bot, not one of Telegram's pseudo-senders.
func isMember(u *tgbotapi.User) bool {
	if u == nil || u.IsBot || u.ID <= 0 {
		return false
	}
	switch u.ID {
	case groupAnonymousBot, channelBot, telegramService:
		return false
	}
	return true
}

func inChat(c tgbotapi.ChatMember) bool {
	switch c.Status {
	case "creator", "administrator", "member":
		return true
	case "restricted":
		return c.IsMember
	}
	return false
}

// hasContent says whether a message is something a member wrote or posted, as opposed to a
// service message (pins, title changes, video chats, topics...). Listing content rather than
// service kinds keeps service messages of later Bot API versions out.
func hasContent(m *tgbotapi.Message) bool {
	return m.Text != "" || m.Caption != "" || m.Animation != nil || m.Audio != nil ||
		m.Document != nil || len(m.Photo) > 0 || m.Sticker != nil || m.Video != nil ||
		m.VideoNote != nil || m.Voice != nil || m.Contact != nil || m.Dice != nil ||
		m.Poll != nil || m.Venue != nil || m.Location != nil
}

func member(u *tgbotapi.User) events.Member {
	return events.Member{
		ID:        strconv.FormatInt(u.ID, 10),
		Name:      strings.TrimSpace(u.FirstName + " " + u.LastName),
		FirstName: u.FirstName,
		LastName:  u.LastName,
		Username:  u.UserName,
	}
}

func unixTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// normalisePhone returns a shared phone number in E.164. Telegram sends the digits with the
// country code, with or without "+".
func normalisePhone(s string) (string, bool) {
	s = strings.TrimSpace(s)
	var digits strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	d := strings.TrimPrefix(digits.String(), "00")
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	return "+" + d, true
}

// callback maps the press of an inline button relais sent: its data is a command
// ("/jerelaie <slug>"), read by the same parser as typed commands, and the press counts as
// the member's private command. Presses under messages relais did not send, or in a group,
// or whose data is not a known command, are nothing.
func (m *mapper) callback(cq *tgbotapi.CallbackQuery) []events.Event {
	from := cq.From
	if !isMember(from) || cq.ID == "" || len(cq.ID) > 64 {
		return nil
	}
	if cq.Message != nil && (cq.Message.Chat == nil || cq.Message.Chat.ID != from.ID) {
		return nil // buttons relais sends are in private chats only
	}
	cmd, ok := events.ParseCommand(cq.Data, m.bot)
	if !ok {
		return nil
	}
	at := time.Now().UTC() // a press carries no date of its own
	if cq.Message != nil && cq.Message.Date > 0 {
		at = unixTime(int64(cq.Message.Date)).Add(time.Second)
	}
	return []events.Event{{
		V: events.Version, ID: "telegram:cb:" + cq.ID, Kind: events.KindCommand, Platform: events.Telegram,
		At: at, Sender: member(from), Command: &cmd,
	}}
}
