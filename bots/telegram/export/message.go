package export

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/relais-bot/relais/events"
)

// Telegram's pseudo-senders (as in bots/telegram): they post for anonymous admins, linked
// channels and Telegram itself, and are nobody's membership.
const (
	groupAnonymousBot = 1087968824
	channelBot        = 136817688
	telegramService   = 777000
)

// maxMentions bounds the mentions of one event, as live: a message naming more people is a
// list, not a conversation.
const maxMentions = 32

// maxNameBytes bounds a display name or a title kept in an event (Telegram's are at most 128
// characters): an event stays far below events.MaxSize whatever the file says.
const maxNameBytes = 256

// maxTopics bounds the forum topics remembered per group.
const maxTopics = 10_000

// message is the part of an exported message relais reads. Every other field (media, files,
// polls, contacts, locations, forwarded names...) is skipped by the decoder, never stored.
type message struct {
	ID       int64       `json:"id"`
	Type     string      `json:"type"`
	Date     string      `json:"date"`          // local time of the exporting computer, no offset
	DateUnix json.Number `json:"date_unixtime"` // a string of digits; a number is read too

	From   string `json:"from"` // display name
	FromID string `json:"from_id"`

	Action  string   `json:"action"`
	Actor   string   `json:"actor"`
	ActorID string   `json:"actor_id"`
	Members []string `json:"members"` // display names only

	ReplyTo     int64  `json:"reply_to_message_id"`
	ReplyToPeer string `json:"reply_to_peer_id"` // set for a reply to another chat

	Text     text     `json:"text"`
	Entities entities `json:"text_entities"`
	// Media with a caption: the export puts the caption in text, and live a caption is
	// never a command.
	Photo present `json:"photo"`
	File  present `json:"file"`

	Reactions []struct {
		Recent []struct {
			From   string `json:"from"`
			FromID string `json:"from_id"`
			Date   string `json:"date"` // local time, no date_unixtime
		} `json:"recent"`
	} `json:"reactions"`
}

// present records that a field is there, without reading it.
type present bool

func (p *present) UnmarshalJSON(b []byte) error {
	*p = string(b) != "null"
	return nil
}

// chatState is what Read keeps of one group while reading its messages.
type chatState struct {
	rd      *reader
	chat    int64 // Bot API id
	bare    int64 // the export's id
	group   events.Group
	typ     string
	before  time.Time
	ids     idSet
	authors authors
	topics  map[int64]bool
	members map[int64]bool
	reacted map[int64]bool // reactors of the current message
	read    int
	sum     GroupSummary
}

func newChatState(rd *reader, chat int64, h header) *chatState {
	c := &chatState{
		rd:      rd,
		chat:    chat,
		bare:    h.id,
		group:   events.Group{ID: strconv.FormatInt(chat, 10), Title: bound(h.name)},
		typ:     h.typ,
		ids:     idSet{},
		authors: newAuthors(rd.opt.MaxAuthors),
		topics:  map[int64]bool{},
		members: map[int64]bool{},
		reacted: map[int64]bool{},
	}
	if rd.opt.Before != nil {
		c.before = rd.opt.Before(chat)
	}
	return c
}

func (c *chatState) summary() GroupSummary {
	s := c.sum
	s.ID, s.Title, s.Type, s.Members = c.group.ID, c.group.Title, c.typ, len(c.members)
	return s
}

func (c *chatState) message(m *message) error {
	if m.ID == 0 {
		return fmt.Errorf("%w: group %d, message #%d of its list has no id", ErrMalformed, c.chat, c.read)
	}
	if !c.ids.add(m.ID) {
		return fmt.Errorf("%w: group %d, message %d listed twice", ErrDuplicateID, c.chat, m.ID)
	}
	if m.Type != "message" && m.Type != "service" {
		return nil // "unsupported": a message this Telegram Desktop could not export
	}
	sec, err := m.DateUnix.Int64()
	if err != nil || sec <= 0 {
		return fmt.Errorf("%w: group %d, message %d has no date_unixtime (exported by an old Telegram Desktop?)", ErrMalformed, c.chat, m.ID)
	}
	at := time.Unix(sec, 0).UTC()
	if at.After(c.rd.opt.Now.Add(clockSkew)) {
		return fmt.Errorf("%w: group %d, message %d is dated %s", ErrFutureDate, c.chat, m.ID, at.Format(time.RFC3339))
	}
	if m.Type == "service" {
		return c.service(m, at)
	}
	return c.content(m, at)
}

func (c *chatState) content(m *message, at time.Time) error {
	sender, person := c.person(m.FromID)
	if person {
		// Remembered whatever its date: a reply inside the window may answer it.
		defer c.authors.put(m.ID, sender)
	}
	switch {
	case !person || !c.inWindow(at):
		c.sum.Skipped++
	case c.isCommand(m):
		c.sum.Skipped++
	default:
		e := c.event(events.KindMessage, "telegram:"+c.group.ID+":"+strconv.FormatInt(m.ID, 10), at, sender, m.From)
		t := &m.Text
		if !t.set {
			t = &m.Entities.text
		}
		e.Chars = t.chars
		if m.ReplyTo != 0 && !c.topics[m.ReplyTo] && c.samePeer(m.ReplyToPeer) {
			// In a forum every message of a topic "replies" to the topic's first message:
			// that is where it was posted, not whom it answers (as live).
			e.Target = strconv.FormatInt(m.ReplyTo, 10)
			if author, ok := c.authors.get(m.ReplyTo); ok && author != sender {
				e.ReplyTo = strconv.FormatInt(author, 10)
			}
		}
		e.Mentions = c.mentions(t, sender)
		if err := c.send(e); err != nil {
			return err
		}
		c.sum.Messages++
		c.members[sender] = true
	}
	return c.reactions(m, at)
}

// isCommand says whether the message is a command as live would read it: its text, never a
// media caption, parsed by events.ParseCommand.
func (c *chatState) isCommand(m *message) bool {
	if m.Photo || m.File || m.Text.head == "" {
		return false
	}
	_, ok := events.ParseCommand(m.Text.head, c.rd.opt.BotUsername)
	return ok
}

// samePeer says whether a reply's peer (set only for a reply to another chat) is this group.
func (c *chatState) samePeer(peer string) bool {
	if peer == "" {
		return true
	}
	bare := strconv.FormatInt(c.bare, 10)
	return peer == "channel"+bare || peer == "chat"+bare
}

func (c *chatState) mentions(t *text, sender int64) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range t.mentions {
		s := m.name
		if s == "" {
			id, ok := c.personID(m.id)
			if !ok || id == sender {
				continue
			}
			s = strconv.FormatInt(id, 10)
		} else if strings.EqualFold(s[1:], c.rd.opt.BotUsername) {
			continue
		}
		if !seen[s] && len(out) < maxMentions {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// reactions emits one event per member among the message's recent reactors, as live emits
// one per member and message (its id has no emoji).
func (c *chatState) reactions(m *message, at time.Time) error {
	if len(m.Reactions) == 0 {
		return nil
	}
	clear(c.reacted)
	author, hasAuthor := c.person(m.FromID)
	offset, hasOffset := localOffset(m.Date, at)
	for _, r := range m.Reactions {
		for _, rc := range r.Recent {
			who, ok := c.person(rc.FromID)
			if !ok || c.reacted[who] {
				continue
			}
			c.reacted[who] = true
			when := at
			if local, err := time.Parse(localLayout, rc.Date); err == nil && hasOffset {
				when = local.Add(-offset)
			}
			if now := c.rd.opt.Now.UTC().Truncate(time.Second); when.After(now) {
				when = now
			}
			if when.Before(at) {
				when = at
			}
			if !c.inWindow(when) {
				continue
			}
			msg := strconv.FormatInt(m.ID, 10)
			e := c.event(events.KindReaction, "telegram:"+c.group.ID+":"+msg+":reaction:"+strconv.FormatInt(who, 10), when, who, rc.From)
			e.Target = msg
			if hasAuthor && author != who {
				e.ReplyTo = strconv.FormatInt(author, 10)
			}
			if err := c.send(e); err != nil {
				return err
			}
			c.sum.Reactions++
		}
	}
	return nil
}

// localLayout is how the export writes local dates (Qt::ISODate without an offset).
const localLayout = "2006-01-02T15:04:05"

// localOffset is the exporting computer's UTC offset at a message's date: the difference
// between its local "date" and its "date_unixtime".
func localOffset(local string, at time.Time) (time.Duration, bool) {
	t, err := time.Parse(localLayout, local)
	if err != nil {
		return 0, false
	}
	d := t.Sub(at)
	if d < -15*time.Hour || d > 15*time.Hour {
		return 0, false // no time zone is that far: not the same instant
	}
	return d, true
}

// service maps joins and leaves. The export gives the id of the actor only: a join by link
// or request is the actor's; an addition or removal is the actor's only when the one person
// named is the actor (someone coming back, someone leaving). Others are counted Unresolved.
func (c *chatState) service(m *message, at time.Time) error {
	var kind events.Kind
	switch m.Action {
	case "topic_created":
		if len(c.topics) < maxTopics {
			c.topics[m.ID] = true
		}
		return nil
	case "join_group_by_link", "join_group_by_request":
		kind = events.KindJoin
	case "invite_members", "remove_members":
		kind = events.KindJoin
		if m.Action == "remove_members" {
			kind = events.KindLeave
		}
		if len(m.Members) != 1 || m.Members[0] == "" || m.Members[0] != m.Actor {
			c.sum.Unresolved += len(m.Members)
			return nil
		}
	default:
		return nil
	}
	who, ok := c.person(m.ActorID)
	if !ok || !c.inWindow(at) {
		return nil
	}
	id := "telegram:" + c.group.ID + ":" + string(kind) + ":" + strconv.FormatInt(who, 10) + ":" + strconv.FormatInt(at.Unix(), 10)
	if err := c.send(c.event(kind, id, at, who, m.Actor)); err != nil {
		return err
	}
	if kind == events.KindJoin {
		c.sum.Joins++
	} else {
		c.sum.Leaves++
	}
	return nil
}

func (c *chatState) event(kind events.Kind, id string, at time.Time, who int64, name string) events.Event {
	g := c.group
	return events.Event{
		V:        events.Version,
		ID:       id,
		Kind:     kind,
		Platform: events.Telegram,
		At:       at,
		Group:    &g,
		Sender:   events.Member{ID: strconv.FormatInt(who, 10), Name: bound(strings.TrimSpace(name))},
	}
}

func (c *chatState) send(e events.Event) error {
	if err := c.rd.emit(e); err != nil {
		return &emitError{err}
	}
	if c.sum.First.IsZero() || e.At.Before(c.sum.First) {
		c.sum.First = e.At
	}
	if e.At.After(c.sum.Last) {
		c.sum.Last = e.At
	}
	return nil
}

func (c *chatState) inWindow(at time.Time) bool {
	o := c.rd.opt
	return !at.Before(o.Since) && (c.before.IsZero() || at.Before(c.before))
}

// person reads a "user<id>" peer and says whether it is a member: not a channel or a basic
// group ("channel<id>", "chat<id>"), not a pseudo-sender, not relais's bot.
func (c *chatState) person(peer string) (int64, bool) {
	s, ok := strings.CutPrefix(peer, "user")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return c.personID(id)
}

func (c *chatState) personID(id int64) (int64, bool) {
	switch id {
	case groupAnonymousBot, channelBot, telegramService, c.rd.opt.BotID:
		return 0, false
	}
	return id, id > 0
}

// bound cuts s to maxNameBytes on a rune boundary.
func bound(s string) string {
	if len(s) <= maxNameBytes {
		return s
	}
	n := maxNameBytes
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// idSet is a sparse bitmap of message ids: a group's ids are dense, so a million messages
// take about 16k words, where a map of ids would take tens of MB.
type idSet map[int64]uint64

// add records id and says whether it was new.
func (s idSet) add(id int64) bool {
	w, bit := id>>6, uint64(1)<<(uint64(id)&63)
	if s[w]&bit != 0 {
		return false
	}
	s[w] |= bit
	return true
}

// authors remembers the members who wrote the last max messages, evicting the oldest first.
type authors struct {
	max  int
	ring []int64
	pos  int
	by   map[int64]int64
}

func newAuthors(max int) authors { return authors{max: max, by: map[int64]int64{}} }

func (a *authors) put(msg, author int64) {
	if len(a.ring) < a.max {
		a.ring = append(a.ring, msg)
	} else {
		delete(a.by, a.ring[a.pos])
		a.ring[a.pos] = msg
		a.pos = (a.pos + 1) % a.max
	}
	a.by[msg] = author
}

func (a *authors) get(msg int64) (int64, bool) {
	id, ok := a.by[msg]
	return id, ok
}
