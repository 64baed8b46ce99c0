package export

import (
	"strings"
	"unicode/utf8"
)

// lang is the language a notice was written in; it hints the day order.
type lang uint8

const (
	langUnknown lang = iota
	langFR
	langEN
)

// lineKind is what the part of a dated line after its prefix is.
type lineKind uint8

const (
	lineMessage lineKind = iota // someone wrote text
	lineMedia                   // someone sent media (or a message whose text the export lost)
	lineDeleted                 // a deleted message: skipped
	lineSystem                  // a notice: joins and leaves are kept, others skipped
)

const lrm = "\u200e"

// isMark reports the invisible direction marks exports add around names, numbers,
// attachments and mentions: they are not part of what anyone typed.
func isMark(r rune) bool {
	return r == '\u200e' || r == '\u200f' || r == '\ufeff' ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// stripMarks removes direction marks (only allocating when there are some).
func stripMarks(s string) string {
	if !strings.ContainsFunc(s, isMark) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isMark(r) {
			return -1
		}
		return r
	}, s)
}

// chars counts the runes of a line of text as the live mapper counts a message's text
// (utf8.RuneCountInString), without the marks and the "edited" notice the export adds.
func chars(s string) int {
	for _, suffix := range editedSuffixes {
		if strings.HasSuffix(s, suffix) {
			s = strings.TrimRight(s[:len(s)-len(suffix)], " ")
			break
		}
	}
	n := 0
	for _, r := range s {
		if !isMark(r) {
			n++
		}
	}
	return n
}

var editedSuffixes = []string{"<This message was edited>", "<Ce message a été modifié>"}

// splitSender separates "Sender: text". A line without ": " is a notice; so is a line whose
// would-be sender reads like a notice (a subject or description changed to a text holding
// ": ") or is the group's own title (iOS writes notices as "Group title: ‎notice").
func splitSender(rest, title string) (sender, text string, isNotice bool) {
	i := strings.Index(rest, ": ")
	switch {
	case i >= 0:
		sender, text = rest[:i], rest[i+2:]
	case strings.HasSuffix(rest, ":"):
		sender = rest[:len(rest)-1] // an empty first line; the text follows on the next
	default:
		return "", rest, true
	}
	if utf8.RuneCountInString(sender) > maxNameRunes || noticeInSender(sender) {
		return "", rest, true
	}
	if title != "" && stripMarks(strings.TrimSpace(sender)) == title {
		return "", text, true
	}
	return sender, text, false
}

// maxNameRunes bounds a sender label: a longer "name" is a notice holding ": ".
const maxNameRunes = 100

func noticeInSender(s string) bool {
	for _, v := range []string{" changed the ", " changed this ", " a modifié ", " a changé ", " created group", " a créé ", " added ", " a ajouté ", " removed ", " a retiré "} {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// classify says what a sender's text is: media, deleted, or text. lead is whether the text
// began with U+200E, which iOS puts before what it wrote itself rather than the sender.
func classify(text string) (lineKind, lang) {
	lead := strings.HasPrefix(text, lrm)
	t := strings.TrimSpace(stripMarks(text))
	if k, l, ok := fixedNotice(t); ok {
		return k, l
	}
	if strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">") {
		inner := t[1 : len(t)-1]
		switch {
		case strings.HasPrefix(inner, "attached:"):
			return lineMedia, langEN
		case strings.HasPrefix(inner, "pièce jointe"), strings.HasPrefix(inner, "joint :"), strings.HasPrefix(inner, "joint:"):
			return lineMedia, langFR
		case strings.HasSuffix(inner, " omitted"):
			return lineMedia, langEN
		case strings.HasSuffix(inner, " omis"), strings.HasSuffix(inner, " omise"), strings.HasSuffix(inner, " omises"):
			return lineMedia, langFR
		}
	}
	// Android writes "IMG-20240306-WA0001.jpg (file attached)" when media is included.
	switch {
	case strings.HasSuffix(t, "(file attached)"):
		return lineMedia, langEN
	case strings.HasSuffix(t, "(fichier joint)"):
		return lineMedia, langFR
	}
	if lead {
		// iOS media and call notices: "‎image omitted", "‎vidéo absente", "‎Missed voice call".
		for _, s := range []string{" omitted", " absente", " absent", " omis", " omise"} {
			if strings.HasSuffix(t, s) && strings.Count(t, " ") <= 6 {
				if s == " omitted" {
					return lineMedia, langEN
				}
				return lineMedia, langFR
			}
		}
		switch {
		case strings.HasPrefix(t, "Location:"), strings.HasPrefix(t, "Position :"), strings.HasPrefix(t, "Position:"):
			return lineMedia, langUnknown
		case strings.Contains(t, " call"), strings.Contains(t, "Appel "), strings.Contains(t, "appel "):
			return lineDeleted, langUnknown // a call is no message
		}
	}
	return lineMessage, langUnknown
}

// fixedNotice recognises the exact texts WhatsApp writes in a sender's place.
func fixedNotice(t string) (lineKind, lang, bool) {
	t = strings.TrimSuffix(t, ".")
	switch t {
	case "Media omitted", "image omitted", "video omitted", "audio omitted", "sticker omitted",
		"GIF omitted", "document omitted", "Contact card omitted",
		"Waiting for this message. This may take a while", "Waiting for this message":
		return lineMedia, langEN, true
	case "Médias omis", "image absente", "vidéo absente", "audio omis", "autocollant omis",
		"GIF omis", "document omis", "Fiche contact omise",
		"En attente de ce message. Vérifiez votre téléphone", "En attente de ce message":
		return lineMedia, langFR, true
	case "This message was deleted", "You deleted this message":
		return lineDeleted, langEN, true
	case "Ce message a été supprimé", "Vous avez supprimé ce message":
		return lineDeleted, langFR, true
	}
	return 0, langUnknown, false
}

// notice is a system line understood: who joined or left. Anything else is skipped.
type notice struct {
	join, leave []string // member labels as written (names or phone numbers)
	lang        lang
}

// parseNotice reads a system line in French or English. The exporter's own joins and leaves
// ("You left", "X vous a ajouté") name no member and are dropped.
func parseNotice(text string) notice {
	t := strings.TrimSpace(stripMarks(text))
	t = strings.TrimSuffix(t, ".")
	var n notice
	switch {
	case strings.HasPrefix(t, "Messages and calls are end-to-end encrypted"),
		strings.HasPrefix(t, "Messages to this group are now secured"):
		n.lang = langEN
		return n
	case strings.HasPrefix(t, "Les messages et les appels sont chiffrés"):
		n.lang = langFR
		return n
	}
	if who, ok := before(t, " joined"); ok {
		n.join, n.lang = one(who), langEN
	} else if who, ok := before(t, " a rejoint"); ok {
		n.join, n.lang = one(who), langFR
	} else if who, ok := before(t, " s'est joint"); ok {
		n.join, n.lang = one(who), langFR
	} else if who, ok := before(t, " s’est joint"); ok {
		n.join, n.lang = one(who), langFR
	} else if who, ok := before(t, " created group"); ok {
		n.join, n.lang = one(who), langEN
	} else if who, ok := before(t, " a créé le groupe"); ok {
		n.join, n.lang = one(who), langFR
	} else if who, ok := before(t, " a créé ce groupe"); ok {
		n.join, n.lang = one(who), langFR
	} else if _, whom, ok := strings.Cut(t, " added "); ok {
		n.join, n.lang = list(whom, " and "), langEN
	} else if _, whom, ok := strings.Cut(t, " a ajouté "); ok {
		n.join, n.lang = list(whom, " et "), langFR
	} else if whom, ok := strings.CutPrefix(t, "Vous avez ajouté "); ok {
		n.join, n.lang = list(whom, " et "), langFR
	} else if whom, ok := strings.CutPrefix(t, "Vous avez retiré "); ok {
		n.leave, n.lang = list(whom, " et "), langFR
	} else if _, whom, ok := strings.Cut(t, " removed "); ok {
		n.leave, n.lang = list(whom, " and "), langEN
	} else if _, whom, ok := strings.Cut(t, " a retiré "); ok {
		n.leave, n.lang = list(whom, " et "), langFR
	} else if who, ok := strings.CutSuffix(t, " left"); ok {
		n.leave, n.lang = one(who), langEN
	} else if who, ok := before(t, " est parti"); ok && isEnd(t, who, " est parti", "e", "(e)") {
		n.leave, n.lang = one(who), langFR
	} else if who, ok := before(t, " est sorti"); ok && isEnd(t, who, " est sorti", "e", "(e)") {
		n.leave, n.lang = one(who), langFR
	} else if who, ok := before(t, " a quitté"); ok {
		n.leave, n.lang = one(who), langFR
	}
	return n
}

// before returns what precedes sep, when the line has it.
func before(t, sep string) (string, bool) {
	i := strings.Index(t, sep)
	if i <= 0 {
		return "", false
	}
	return t[:i], true
}

// isEnd reports whether t is who+verb followed only by one of the allowed endings, so
// "X est parti en vacances" (text) is not read as "X est parti(e)".
func isEnd(t, who, verb string, endings ...string) bool {
	tail := t[len(who)+len(verb):]
	if tail == "" {
		return true
	}
	for _, e := range endings {
		if tail == e {
			return true
		}
	}
	return false
}

func one(who string) []string {
	if isYou(who) {
		return nil
	}
	return []string{strings.TrimSpace(who)}
}

// list splits "A, B and C" into labels.
func list(s, and string) []string {
	var out []string
	parts := strings.Split(s, ", ")
	if last := parts[len(parts)-1]; strings.Contains(last, and) {
		a, b, _ := strings.Cut(last, and)
		parts = append(parts[:len(parts)-1], a, b)
	}
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" && !isYou(p) {
			out = append(out, p)
		}
	}
	return out
}

func isYou(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "you", "vous", "":
		return true
	}
	return false
}

// phoneDigits returns the digits of a label written as an international phone number
// ("+33 6 12 34 56 78", with the marks, spaces, dashes and brackets phones add), or "".
// Like the live mapper's e164, it wants 7 to 15 digits not starting with 0.
func phoneDigits(label string) string {
	s := strings.TrimSpace(stripMarks(label))
	if !strings.HasPrefix(s, "+") {
		return ""
	}
	var b strings.Builder
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\u00a0' || r == '\u202f':
		default:
			return ""
		}
	}
	d := b.String()
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return ""
	}
	return d
}

// cleanName is a name label as a member's name: without marks, surrounding spaces, or the
// "~ " WhatsApp puts before a name that is not in the exporting phone's contacts.
func cleanName(label string) string {
	s := strings.TrimSpace(stripMarks(label))
	if t, ok := strings.CutPrefix(s, "~"); ok {
		s = strings.TrimSpace(strings.TrimLeft(t, "\u00a0\u202f"))
	}
	return s
}
