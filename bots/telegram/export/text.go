package export

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/relais-bot/relais/bots/telegram"
)

// maxHead is how much of a text starting with / or ! is kept until the message is mapped, to
// tell a command from talk: the command word (a name, "@" and a bot's username) is far
// shorter, and ParseCommand decides on that word alone.
const maxHead = 512

// text is what relais reads of a message's "text" (a string, or a list of strings and entity
// objects) or "text_entities" (a list of entity objects): never the text itself.
type text struct {
	set   bool
	chars int // Unicode code points, as the live mapper counts (not UTF-16 units)
	// head is the start of the text when it may be a command, dropped with the message.
	head     string
	mentions []mention
}

// mention is a mention_name entity's user id, or a mention entity's "@username", lowercased.
type mention struct {
	id   int64
	name string
}

// part is one element of a text list: a plain string, or an entity object.
type part struct {
	typ, text string
	userID    json.Number
}

func (p *part) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &p.text)
	}
	var o struct {
		Type   string      `json:"type"`
		Text   string      `json:"text"`
		UserID json.Number `json:"user_id"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	p.typ, p.text, p.userID = o.Type, o.Text, o.UserID
	return nil
}

func (t *text) UnmarshalJSON(b []byte) error {
	*t = text{}
	if string(b) == "null" {
		return nil
	}
	t.set = true
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		t.chars = utf8.RuneCountInString(s)
		t.head = commandHead(s)
		return nil
	case '[':
	default:
		return &valueError{"a text is neither a string nor a list"}
	}
	var parts []part
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	var head strings.Builder
	for _, p := range parts {
		t.chars += utf8.RuneCountInString(p.text)
		if head.Len() < maxHead {
			head.WriteString(p.text)
		}
		switch p.typ {
		case "mention_name":
			if id, err := p.userID.Int64(); err == nil {
				t.mentions = append(t.mentions, mention{id: id})
			}
		case "mention":
			if telegram.ValidMention(p.text) {
				t.mentions = append(t.mentions, mention{name: strings.ToLower(p.text)})
			}
		}
	}
	t.head = commandHead(head.String())
	return nil
}

// commandHead returns the start of s if s may be a command (its first non-space character is
// / or !), else "".
func commandHead(s string) string {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	if s == "" || (s[0] != '/' && s[0] != '!') {
		return ""
	}
	if len(s) > maxHead {
		n := maxHead
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return strings.Clone(s) // not a slice of the whole text, which must not outlive it
}

// entities is a message's "text_entities": the same text as "text", as entity objects only.
// It is read only when "text" was not (exports before 2021 have no text_entities, later ones
// both): reading the text twice took a third of Read's time.
type entities struct {
	text
	prior *text // the message's "text", set before decoding
}

func (e *entities) UnmarshalJSON(b []byte) error {
	if e.prior != nil && e.prior.set {
		return nil
	}
	return e.text.UnmarshalJSON(b)
}
