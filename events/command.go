package events

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Command limits: names follow Telegram's rule (1–32 of a-z, 0-9, _); arguments are bounded
// so a pasted essay does not become an event.
const (
	maxCommandName = 32
	maxArgs        = 16
	maxArgLen      = 128
)

// ParseCommand reads a bot command from the text of a message, in the forms /cmd, /cmd@bot
// and !cmd. bot is the bot's own username ("" where the platform has none): a command
// addressed to another bot (/cmd@otherbot) is not ours and gives ok=false. Arguments are
// split on spaces; "double", 'single' and «French» quotes group words.
func ParseCommand(text, bot string) (c Command, ok bool) {
	text = strings.TrimLeftFunc(text, unicode.IsSpace)
	if len(text) < 2 || (text[0] != '/' && text[0] != '!') {
		return Command{}, false
	}
	rest := text[1:]
	end := strings.IndexFunc(rest, unicode.IsSpace)
	if end < 0 {
		end = len(rest)
	}
	word, args := rest[:end], rest[end:]
	name, at, addressed := strings.Cut(word, "@")
	if addressed && !strings.EqualFold(at, bot) {
		return Command{}, false
	}
	name = strings.ToLower(name)
	if !validCommandName(name) {
		return Command{}, false
	}
	return Command{Name: name, Args: splitArgs(args), Bang: text[0] == '!'}, true
}

func validCommandName(s string) bool {
	if s == "" || len(s) > maxCommandName {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

var closingQuote = map[rune]rune{'"': '"', '\'': '\'', '«': '»', '“': '”'}

// splitArgs splits on white space, keeping quoted runs together. An unclosed quote runs to
// the end of the text, which is what a user typing on a phone means.
func splitArgs(s string) []string {
	var (
		args  []string
		cur   strings.Builder
		quote rune
		inArg bool
	)
	flush := func() {
		if inArg && len(args) < maxArgs {
			a := strings.TrimSpace(cur.String())
			if a != "" {
				args = append(args, truncateRunes(a, maxArgLen))
			}
		}
		cur.Reset()
		inArg = false
	}
	for _, r := range s {
		if r == utf8.RuneError {
			continue
		}
		switch {
		case quote != 0 && r == quote:
			quote = 0
			flush()
		case quote != 0:
			cur.WriteRune(r)
		case unicode.IsSpace(r):
			flush()
		case closingQuote[r] != 0 && !inArg:
			quote = closingQuote[r]
			inArg = true
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	flush()
	return args
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
