package commands

import (
	"errors"

	"github.com/relais-bot/relais/locale"
)

// helpTexts are /aide's words, from the message files: an intro, a heading per audience,
// and per command key ([help] <key>, [usage] <key>) one line of what it does and the
// argument it takes.
type helpTexts struct {
	lang       string
	Intro      string // %[1]s controller
	Organisers string
	Admins     string
}

func helpTextsFor(lang string) (helpTexts, error) {
	h := helpTexts{lang: lang}
	var err error
	for id, dst := range map[string]*string{"help.Intro": &h.Intro, "help.Organisers": &h.Organisers, "help.Admins": &h.Admins} {
		var e error
		*dst, e = locale.Text(lang, id)
		err = errors.Join(err, e)
	}
	return h, err
}

// Line is what the command does, "" when the message files have no line for it (a test
// checks every command /aide lists has one).
func (h helpTexts) Line(key string) string {
	s, err := locale.Text(h.lang, "help."+key)
	if err != nil {
		return ""
	}
	return s
}

// Usage is the command's argument as /aide shows it, "" for none.
func (h helpTexts) Usage(key string) string {
	s, err := locale.Text(h.lang, "usage."+key)
	if err != nil {
		return ""
	}
	return s
}
