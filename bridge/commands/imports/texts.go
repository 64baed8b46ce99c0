package imports

import (
	"errors"
	"fmt"

	tgexport "github.com/relais-bot/relais/bots/telegram/export"
	waexport "github.com/relais-bot/relais/bots/whatsapp/export"
	"github.com/relais-bot/relais/history"
	"github.com/relais-bot/relais/locale"
)

// texts are the feature's words, from the message files' group "imports".
type texts struct {
	// Usage answers /importer without a file: how to send one.
	Usage string
	// Unavailable answers a file sent where relais cannot fetch files (WhatsApp).
	Unavailable string
	TooLarge    locale.Plural // %[1]d megabytes
	Failed      string        // %[1]s why
	Title       string
	Nothing     string
	Group       string // %[1]s title, %[2]d messages, %[3]d members, %[4]s first day, %[5]s last day
	Leaders     string // %[1]s names
	NoLeaders   string
	Pending     string
	Refused     string // %[1]s groups and why
	DateLayout  string
	// The reasons a file is refused, in the organiser's words.
	NotExport, Truncated, Future, Duplicate, NoGroup string
	// NeedGroup: a WhatsApp export whose file name was changed names no group;
	// UnknownGroup (%[1]s the title its name gives) names none relais follows.
	NeedGroup, UnknownGroup string
	// Notice is posted once in a group after an import: %[1]d days counted.
	Notice locale.Plural
}

func textsFor(lang string) (texts, error) {
	var t texts
	if err := locale.Fill(lang, "imports", &t); err != nil {
		return texts{}, fmt.Errorf("imports: %w", err)
	}
	return t, nil
}

// reason is a refusal the organiser can act on.
type reason struct {
	err  error
	text string
}

func (f *Feature) reasons() []reason {
	t := f.txt
	return []reason{
		{history.ErrUploadTooLarge, t.TooLarge.N(MaxBytes >> 20)},
		{tgexport.ErrTooLarge, t.TooLarge.N(MaxBytes >> 20)},
		{waexport.ErrTooLarge, t.TooLarge.N(MaxBytes >> 20)},
		{tgexport.ErrNotExport, t.NotExport},
		{waexport.ErrNotExport, t.NotExport},
		{waexport.ErrBinary, t.NotExport},
		{waexport.ErrNoChat, t.NotExport},
		{tgexport.ErrTruncated, t.Truncated},
		{tgexport.ErrMalformed, t.Truncated},
		{tgexport.ErrFutureDate, t.Future},
		{waexport.ErrFuture, t.Future},
		{tgexport.ErrDuplicateID, t.Duplicate},
	}
}

// errNoGroup is history's refusal of every group of a file; its text names them.
var errNoGroup = history.ErrNoGroup

func isNoGroup(err error) bool { return errors.Is(err, errNoGroup) }
