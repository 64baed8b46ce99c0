package events

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// replyWords are the answers a member may type instead of pressing a button, on a platform
// without buttons (WhatsApp): the campaign message lists them. Keys are folded (lowercase,
// no accents, single spaces, no surrounding punctuation).
var replyWords = map[string]string{
	"1": "jerelaie", "je relaie": "jerelaie", "jerelaie": "jerelaie", "relaie": "jerelaie", "relay": "jerelaie", "i relay": "jerelaie",
	"2": "pascettefois", "pas cette fois": "pascettefois", "pascettefois": "pascettefois", "not this time": "pascettefois",
	"3": "neplusmesolliciter", "ne plus me solliciter": "neplusmesolliciter", "neplusmesolliciter": "neplusmesolliciter",
	"stop campagnes": "neplusmesolliciter", "no more calls": "neplusmesolliciter",
	"envoyer": "envoyer", "send": "envoyer",
	"annuler": "annuler", "cancel": "annuler",
}

// maxReplyWordBytes: an answer word is short; anything longer is talk, not read further.
const maxReplyWordBytes = 64

// ParseReplyWord reads a private message that is only an answer word ("1", "Je relaie",
// "ENVOYER") as the command it stands for, without argument: the bridge applies it to the
// latest campaign of whoever sent it. Anything else is not a command (ok false), and the
// result holds nothing of the text beyond the command's name.
func ParseReplyWord(text string) (Command, bool) {
	if len(text) > maxReplyWordBytes {
		return Command{}, false
	}
	name, ok := replyWords[foldWord(text)]
	if !ok {
		return Command{}, false
	}
	return Command{Name: name}, true
}

// foldWord lowercases s, drops accents and surrounding punctuation, and joins its words by
// single spaces.
func foldWord(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
