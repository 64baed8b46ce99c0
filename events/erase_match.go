package events

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// matcher recognises the erased member in events, replies and dead letters.
type matcher struct {
	who ErasedMember
	// handles are lowercased usernames without "@"; words lowercased usernames and names.
	handles []string
	words   []string
}

func newMatcher(who ErasedMember) *matcher {
	m := &matcher{who: who}
	for _, u := range who.Usernames {
		if u = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(u), "@")); u != "" {
			m.handles = append(m.handles, u)
			m.words = append(m.words, u)
		}
	}
	for _, name := range who.Names {
		// A one-letter "name" would match half the replies in the queue.
		if name = strings.ToLower(strings.TrimSpace(name)); utf8.RuneCountInString(name) >= 2 {
			m.words = append(m.words, name)
		}
	}
	return m
}

func (m *matcher) isMember(id string) bool { return id != "" && id == m.who.PlatformID }

// isMention reports whether a mentions entry is the member: their id, or "@username".
func (m *matcher) isMention(entry string) bool {
	if m.isMember(entry) {
		return true
	}
	handle, ok := strings.CutPrefix(entry, "@")
	return ok && slices.Contains(m.handles, strings.ToLower(handle))
}

// names reports whether text names the member as a whole word.
func (m *matcher) names(text string) bool {
	if text == "" {
		return false
	}
	lower := strings.ToLower(text)
	for _, w := range m.words {
		if containsWord(lower, w) {
			return true
		}
	}
	return false
}

// containsWord reports whether word occurs in s with no letter, digit or underscore on
// either side: "Léa" is in "merci Léa !" but not in "Léandre".
func containsWord(s, word string) bool {
	for from := 0; from <= len(s)-len(word); {
		i := strings.Index(s[from:], word)
		if i < 0 {
			return false
		}
		i += from
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(word):])
		if !wordRune(before) && !wordRune(after) {
			return true
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		from = i + size
	}
	return false
}

func wordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_')
}

// argsName reports whether a command's arguments name the member.
func (m *matcher) argsName(c *Command) bool {
	if c == nil {
		return false
	}
	for _, a := range c.Args {
		if m.isMention(a) || m.isMember(a) {
			return true
		}
	}
	return m.names(strings.Join(c.Args, " "))
}

// eventRefers reports whether someone else's event points at the member.
func (m *matcher) eventRefers(e Event) bool {
	if m.argsName(e.Command) {
		return true
	}
	if e.Platform != m.who.Platform {
		return false
	}
	return m.isMember(e.ReplyTo) || slices.ContainsFunc(e.Mentions, m.isMention)
}

// withoutRefs is e without what points at the member; everything else is unchanged.
func (m *matcher) withoutRefs(e Event) Event {
	if e.Platform == m.who.Platform {
		if m.isMember(e.ReplyTo) {
			// Target is then the member's own message: without it, no one can work the
			// author back out of it.
			e.ReplyTo, e.Target = "", ""
		}
		e.Mentions = slices.DeleteFunc(slices.Clone(e.Mentions), m.isMention)
		if len(e.Mentions) == 0 {
			e.Mentions = nil
		}
	}
	if m.argsName(e.Command) {
		c := *e.Command
		c.Args = nil
		e.Command = &c
	}
	return e
}

// anonymised is the member's own message as the pseudonym: it names nobody and credits
// nobody (an erasure withdraws the member's credits to others, as the bridge does live), and
// only keeps counting in its group's messages per day, so a replay of the log gives the
// group the figures it had live.
func (m *matcher) anonymised(e Event) (Event, bool) {
	if e.Group == nil || e.Kind != KindMessage {
		return Event{}, false
	}
	return Event{
		V: Version, ID: e.ID, Kind: e.Kind, Platform: e.Platform, At: e.At,
		Group:  &Group{ID: e.Group.ID, Title: e.Group.Title},
		Sender: Member{ID: m.who.Pseudonym},
	}, true
}

// replyNames reports whether a pending reply goes to the member or names them.
func (m *matcher) replyNames(data []byte) bool {
	r, err := DecodeReply(data)
	if err != nil {
		return m.rawNames(data)
	}
	if r.Platform == m.who.Platform && (m.isMember(r.Chat) || m.isMember(r.FallbackChat)) {
		return true
	}
	return m.names(r.Text) || m.names(r.FallbackText)
}

// deadLetterNames reports whether a dead letter holds anything of the member: dead letters
// are never replayed, so one that does is deleted rather than rewritten.
func (m *matcher) deadLetterNames(data []byte) bool {
	if e, err := DecodeEvent(data); err == nil {
		sender := e.Platform == m.who.Platform && (m.isMember(e.Sender.ID) || m.isMention("@"+e.Sender.Username))
		return sender || m.eventRefers(e)
	}
	if _, err := DecodeReply(data); err == nil {
		return m.replyNames(data)
	}
	return m.rawNames(data)
}

// rawNames looks for the member in bytes that are not a message relais can read: a name or
// handle as a word, or the platform id as a JSON string.
func (m *matcher) rawNames(data []byte) bool {
	s := string(data)
	return m.names(s) || strings.Contains(s, strconv.Quote(m.who.PlatformID))
}
