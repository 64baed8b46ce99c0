package events

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ArgKind is the one argument a known command may keep in its event. Message text never
// leaves an adapter (DESIGN.md, "Consent and privacy"): a command keeps its name and, only
// when it needs one, an argument reduced to a bounded, typed value. Everything else the
// member typed after the name is dropped by ParseCommand.
type ArgKind uint8

const (
	// ArgNone: the command keeps no argument at all ("/aide blah blah" is "aide").
	ArgNone ArgKind = iota
	// ArgCount: an optional small positive integer, as in "/actifs [n]". Only ASCII digits
	// are read; a value above MaxCountArg becomes MaxCountArg; zero, a sign, a decimal point
	// or anything else drops the argument.
	ArgCount
	// ArgGroup: an optional group name to look for, as in "/stats [group]": the words
	// after the name joined by single spaces, at most MaxQueryRunes runes.
	ArgGroup
	// ArgMember: a member to look for, as in "/fiche <member>": like ArgGroup.
	ArgMember
	// ArgSlug: a campaign slug, as in "/campagne <slug>": the first word, ASCII letters
	// lowercased, kept only if it is 1 to MaxSlugLen characters of [a-z0-9-].
	ArgSlug
	// ArgText: an organiser's own free text, as in "/mobiliser <text>": the text after
	// the name, newlines kept, other control characters dropped, at most MaxTextRunes runes.
	//
	// This is the one kind that keeps words as typed, a deliberate exception: a campaign
	// text is a message the organiser writes for relais to send to members, not a member's
	// talk, and it must be stored to be previewed, confirmed and sent. The adapter cannot
	// tell an organiser from anyone else, so whoever types the command has that text
	// stored under the stream's retention; the bridge refuses non-organisers.
	ArgText
	// ArgFile: an optional request for a file, as in "/moi fichier": kept as FileArg when
	// the first word is one of FileWords (any case), dropped otherwise. Nothing the member
	// typed is kept as typed.
	ArgFile
)

// FileArg is what an ArgFile command keeps when a file was asked for; FileWords are the
// words that ask for one.
const FileArg = "file"

var FileWords = []string{"fichier", "file", "json"}

// Argument bounds. They are part of the contract: an event's argument never exceeds them.
const (
	MaxCountArg   = 100
	MaxQueryRunes = 64
	MaxSlugLen    = 64
	MaxTextRunes  = 1000
)

func (k ArgKind) String() string {
	switch k {
	case ArgNone:
		return "none"
	case ArgCount:
		return "count"
	case ArgGroup:
		return "group"
	case ArgMember:
		return "member"
	case ArgSlug:
		return "slug"
	case ArgText:
		return "text"
	case ArgFile:
		return "file"
	}
	return "invalid"
}

// CommandSpec is one known command: its names, French first then aliases, and the argument
// kind it keeps.
type CommandSpec struct {
	Names []string
	Arg   ArgKind
}

// commands is the one table of command names relais knows. A "/word" or "!word" whose word
// is not here is not a command: it is talk, and its event keeps only its length. The bridge's
// command handler understands these names (a test in bridge/commands checks both agree).
var commands = []CommandSpec{
	// Anyone.
	{[]string{"aide", "help", "start", "commandes"}, ArgNone}, // Telegram sends /start when a private chat opens
	{[]string{"confidentialite", "vieprivee", "vie_privee", "privacy"}, ArgNone},
	{[]string{"oui", "consent", "consentement", "yes"}, ArgNone},
	{[]string{"stop", "arret"}, ArgNone},
	{[]string{"oubli", "oublier", "forget", "erase"}, ArgNone},
	{[]string{"moi", "mesdonnees", "mydata", "me"}, ArgFile}, // /moi fichier: everything, as a file
	// Organisers.
	{[]string{"stats", "statistiques"}, ArgGroup},
	{[]string{"actifs", "active"}, ArgCount},
	{[]string{"relais", "leaders"}, ArgCount},
	{[]string{"fiche", "card"}, ArgMember},
	{[]string{"sync"}, ArgNone},
	{[]string{"mobiliser", "mobilise"}, ArgText},
	{[]string{"campagnes", "campaigns"}, ArgNone},
	{[]string{"campagne", "campaign"}, ArgSlug},
	// The buttons of a campaign preview (organisers) and of a campaign message (members):
	// a press on Telegram sends them back with the campaign's slug; on WhatsApp they are
	// reply words (ParseReplyWord), and without a slug they mean the latest campaign.
	{[]string{"envoyer", "send"}, ArgSlug},
	{[]string{"annuler", "cancel"}, ArgSlug},
	{[]string{"jerelaie", "relay"}, ArgSlug},
	{[]string{"pascettefois", "notthistime"}, ArgSlug},
	{[]string{"neplusmesolliciter", "nomorecalls"}, ArgSlug},
	{[]string{"bilan", "digest"}, ArgNone},
	{[]string{"tableau", "dashboard"}, ArgNone},
	// Admins.
	{[]string{"etat", "status"}, ArgNone},
	{[]string{"journal", "accesslog"}, ArgNone},
	// A chat export sent privately (see Document); typed alone, it says how to send one.
	{[]string{UploadCommand, "import"}, ArgNone},
}

// commandArgs indexes commands by name.
var commandArgs = func() map[string]ArgKind {
	m := map[string]ArgKind{}
	for _, c := range commands {
		for _, n := range c.Names {
			if _, dup := m[n]; dup || !validCommandName(n) {
				panic("events: bad or duplicate command name " + n)
			}
			m[n] = c.Arg
		}
	}
	return m
}()

// KnownCommands returns the table of known commands (a copy).
func KnownCommands() []CommandSpec {
	out := make([]CommandSpec, len(commands))
	for i, c := range commands {
		out[i] = CommandSpec{Names: slices.Clone(c.Names), Arg: c.Arg}
	}
	return out
}

// CommandArg returns the argument kind of a known command name (lowercase, without the slash).
func CommandArg(name string) (ArgKind, bool) {
	k, ok := commandArgs[name]
	return k, ok
}

// maxCommandName follows Telegram's rule for command names (1–32 of a-z, 0-9, _).
const maxCommandName = 32

// ParseCommand reads a known bot command from the text of a message, in the forms /cmd,
// /cmd@bot and !cmd, and returns it with its argument already reduced to what its kind keeps
// (see ArgKind). ok is false, and the text is talk, when:
//   - the text does not start with / or ! and a name,
//   - the name is not in the table of known commands,
//   - the command is addressed to another bot (/cmd@otherbot), or to any bot when bot,
//     the bot's own username, is "" (a platform without bot names).
//
// The result holds nothing of the text beyond the name and that bounded argument.
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
	word, after := rest[:end], rest[end:]
	name, at, addressed := strings.Cut(word, "@")
	if addressed && (bot == "" || !strings.EqualFold(at, bot)) {
		return Command{}, false
	}
	// Checked before lowering: strings.ToLower maps some non-ASCII letters (the Kelvin sign)
	// to ASCII ones, and a look-alike is not a command.
	if !isASCII(name) || !validCommandName(strings.ToLower(name)) {
		return Command{}, false
	}
	name = strings.ToLower(name)
	kind, known := commandArgs[name]
	if !known {
		return Command{}, false
	}
	c = Command{Name: name, Bang: text[0] == '!'}
	if arg := reduceArg(kind, after); arg != "" {
		c.Args = []string{arg}
	}
	return c, true
}

// reduceArg returns what a command of kind keeps of the text after its name: "" for nothing.
func reduceArg(kind ArgKind, s string) string {
	switch kind {
	case ArgCount:
		return countArg(firstField(s))
	case ArgGroup, ArgMember:
		return queryArg(s)
	case ArgSlug:
		return slugArg(firstField(s))
	case ArgText:
		return textArg(s)
	case ArgFile:
		if w := firstField(s); isASCII(w) && slices.Contains(FileWords, strings.ToLower(w)) {
			return FileArg
		}
	}
	return ""
}

// firstField returns the first run of non-space characters of s, without the quotes a
// person may put around it ("5", «5»).
func firstField(s string) string {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	if end := strings.IndexFunc(s, unicode.IsSpace); end >= 0 {
		s = s[:end]
	}
	return strings.TrimFunc(s, isQuote)
}

func countArg(s string) string {
	if s == "" || len(s) > 64 {
		return ""
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return ""
		}
		n = min(n*10+int(c-'0'), MaxCountArg+1)
	}
	switch {
	case n < 1:
		return ""
	case n > MaxCountArg:
		n = MaxCountArg
	}
	return strconv.Itoa(n)
}

func slugArg(s string) string {
	if s == "" || len(s) > MaxSlugLen {
		return ""
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		default:
			return ""
		}
	}
	return string(b)
}

var closingQuote = map[rune]rune{'"': '"', '\'': '\'', '«': '»', '“': '”', '„': '“', '‘': '’'}

func isQuote(r rune) bool {
	switch r {
	case '"', '\'', '«', '»', '“', '”', '„', '‘', '’':
		return true
	}
	return false
}

// queryArg reads a group or member query: the words of s joined by single spaces, a quoted
// run ("Jean Dupont", «Quartier Nord», an unclosed quote running to the end) read without
// its quotes. Control and format characters are dropped (a zero-width joiner inside an
// emoji stays). It stops reading once MaxQueryRunes runes are kept.
func queryArg(s string) string {
	var (
		b       strings.Builder
		n       int  // runes kept
		quote   rune // the closing quote awaited, 0 outside quotes
		inWord  bool
		pending bool // a space is owed before the next rune kept
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote, inWord = 0, false
			pending = n > 0
			continue
		case unicode.IsSpace(r):
			inWord = false
			pending = n > 0
			continue
		case quote == 0 && !inWord && closingQuote[r] != 0:
			quote, inWord = closingQuote[r], true
			continue
		case r == utf8.RuneError || unicode.IsControl(r) || (unicode.Is(unicode.Cf, r) && r != '\u200d'):
			continue
		}
		inWord = true
		if pending {
			if n+1 >= MaxQueryRunes {
				break
			}
			b.WriteByte(' ')
			n++
			pending = false
		}
		b.WriteRune(r)
		n++
		if n >= MaxQueryRunes {
			break
		}
	}
	return b.String()
}

// textArg reads an organiser's free text: s with control characters (but newlines and tabs)
// and invalid bytes dropped, then without surrounding spaces, at most MaxTextRunes runes.
func textArg(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		switch {
		case r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t'):
			continue
		case n == 0 && unicode.IsSpace(r):
			continue
		}
		b.WriteRune(r)
		if n++; n >= MaxTextRunes {
			break
		}
	}
	return strings.TrimRightFunc(b.String(), unicode.IsSpace)
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
