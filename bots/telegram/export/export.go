// Package export reads Telegram Desktop's "Export chat history" JSON (one chat's result.json,
// or a whole-account export's chats.list and left_chats.list) and turns the history of its
// groups into relais events, as a stream: a whole-account export can be hundreds of MB, so the
// file is read token by token and one message at a time, never whole.
//
// It owns the export format and its mapping to events: which chats are groups, which senders
// are members, how a message, a join, a leave and the recent reactions of a message become
// events with exactly the id and fields the live adapter (bots/telegram) gives the same
// message, so that an imported message and its live event are deduplicated by Nats-Msg-Id
// and counted once. It owns no publishing, no choice of groups to import and no notices:
// `relais import` (a later step of issue #25) does that with the events emitted here.
//
// Text is never kept: a message's text is read to count its characters (as the live mapper
// counts them), to find its mentions and to tell a command from talk, then dropped with the
// message. Names (the sender's display name, the group's title) are kept as live events keep
// them. Errors name a chat and a message by their ids only, never quote the input.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/relais-bot/relais/events"
)

// Errors of Read. Each names one way an export is wrong; test with errors.Is.
var (
	ErrNotExport   = errors.New("not a telegram desktop json export")
	ErrTruncated   = errors.New("export is truncated")
	ErrMalformed   = errors.New("malformed export")
	ErrFutureDate  = errors.New("date in the future")
	ErrDuplicateID = errors.New("duplicated id")
	ErrTooLarge    = errors.New("export too large")
)

// DefaultMaxBytes bounds an export when Options.MaxBytes is 0. Media are separate files in an
// export: its JSON is text and ids, and a large account's is a few hundred MB.
const DefaultMaxBytes = 2 << 30

// DefaultMaxAuthors is the number of recent messages per chat whose author is remembered to
// resolve replies and reactions, when Options.MaxAuthors is 0: about 5 MB. Replies go to
// recent messages; a reply to an older one keeps its Target and names nobody.
const DefaultMaxAuthors = 100_000

// clockSkew is how far past Options.Now a date may be before it is an error: the export's
// dates are Telegram's server clock, Now is this machine's.
const clockSkew = 5 * time.Minute

// Options says what to import and how to check it.
type Options struct {
	// Now is the current time, for the check that no date is in the future (5 minutes of
	// clock skew allowed). Zero: time.Now().
	Now time.Time
	// Since drops events older than it (RELAIS_HISTORY_DAYS). Zero: no cutoff.
	Since time.Time
	// Before returns, for a group (its Bot API id, with -100 for a supergroup), the time live
	// events begin: only events strictly older are imported, so history stops where live
	// begins. Nil, or a zero time: no bound.
	Before func(chat int64) time.Time
	// BotUsername is relais's bot, without "@": a mention of it names nobody, and a command
	// addressed to it is recognised as one (and not imported, see Read).
	BotUsername string
	// BotID is relais's bot: the export cannot tell bots from people (it has no is_bot), so
	// at least relais's own messages and joins are kept out.
	BotID int64
	// MaxBytes bounds the bytes read. Zero: DefaultMaxBytes.
	MaxBytes int64
	// MaxAuthors bounds the messages per chat whose author is remembered. Zero:
	// DefaultMaxAuthors.
	MaxAuthors int
}

// Summary is what an import read, group by group.
type Summary struct {
	Groups []GroupSummary
	// OtherChats counts chats of the export that are not groups (personal chats, bots,
	// channels, saved messages): skipped whole.
	OtherChats int
}

// GroupSummary counts what was emitted for one group.
type GroupSummary struct {
	ID    string // Bot API id, as in events.Group.ID
	Title string
	Type  string // the export's chat type, e.g. private_supergroup
	// Messages and Members are the message events emitted and their distinct senders.
	Messages, Members        int
	Joins, Leaves, Reactions int
	// First and Last are the dates of the first and last events emitted (zero if none).
	First, Last time.Time
	// Skipped counts messages not emitted: outside Since or Before, sent by a channel or
	// an anonymous admin, by relais's bot or Telegram itself, and commands.
	Skipped int
	// Unresolved counts people added or removed by someone else: the export names them
	// only by display name, without an id, so no event is emitted for them.
	Unresolved int
}

// Read parses an export from r and calls emit with each event, in file order, and returns a
// summary of what it emitted.
//
// Read streams: it cannot validate the whole file before the first event, so an error may
// come after events were emitted (a truncated file is found truncated only at its end). An
// error means the export is wrong, and the caller must then import nothing: collect the
// events first (a temporary stream or file, a slice for a small export) and publish them only
// once Read returned nil. Read returns the first error of emit, wrapped, and stops there.
//
// Choices made here, beyond what the live mapper does:
//   - A command (what events.ParseCommand accepts) is not imported: typed before relais
//     listened it asked nothing of it, and replaying a /oui or /stop would act on a notice
//     that member never saw.
//   - A reaction event names the author of the message reacted to in ReplyTo, which the live
//     one leaves to the bridge's recent-authors map (it does not reach back this far).
//   - A reaction's date is the export's local "date" of the reaction, put back in UTC with
//     the offset between its message's "date" and "date_unixtime": within the hour a change
//     of daylight saving time may make, never before its message nor after Now.
//   - An "@username" mention is kept as "@username" for the bridge to resolve, as live; a
//     mention of oneself by username is left to the bridge, which credits nobody for it.
//   - A supergroup's history from before it was upgraded from a basic group has ids shifted
//     negative by the export: they are imported under those ids, which no live event has.
//
// Limits of the format: the export has no is_bot, so bots other than Options.BotID count as
// members; it names people added or removed by someone else only by display name (see
// GroupSummary.Unresolved); and in a basic group (private_group) message ids are the
// exporting account's own numbering, not the bot's, so there an imported message and its
// live event do not share an id: only the Before bound keeps them apart, and two people's
// exports of one basic group would count it twice. Supergroups have neither problem.
// A sender's name is their display name as the exporting account sees it, with no first
// and last name apart and no username; a later live event's names replace it (the bridge
// keeps the newest).
func Read(ctx context.Context, r io.Reader, opt Options, emit func(events.Event) error) (Summary, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.MaxAuthors <= 0 {
		opt.MaxAuthors = DefaultMaxAuthors
	}
	cr := &countingReader{r: r, max: opt.MaxBytes}
	dec := json.NewDecoder(cr)
	dec.UseNumber() // skipped values may hold numbers no float64 holds
	rd := &reader{ctx: ctx, opt: opt, dec: dec, emit: emit, chats: map[int64]bool{}}
	err := rd.export()
	if err != nil {
		err = rd.classify(err, cr)
	}
	return rd.sum, err
}

// reader is the state of one Read.
type reader struct {
	ctx  context.Context
	opt  Options
	dec  *json.Decoder
	emit func(events.Event) error
	sum  Summary

	chats map[int64]bool // groups seen, by Bot API id: a group listed twice is an error
	found bool           // a chat or a messages list was seen
	n     int            // messages read, for context checks
	where string         // the message a decoding error is in, for its description
}

// header is what a chat object says before its messages.
type header struct {
	name, typ      string
	id             int64
	hasID, hasType bool
}

// emitError marks an error of the caller's emit, returned as it is.
type emitError struct{ err error }

func (e *emitError) Error() string { return "emit: " + e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

func (rd *reader) export() error {
	tok, err := rd.dec.Token()
	if err == io.EOF {
		return fmt.Errorf("%w: empty input", ErrNotExport)
	}
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("%w: not a json object", ErrNotExport)
	}
	if err := rd.object(true); err != nil {
		return err
	}
	if _, err := rd.dec.Token(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: data after the export's object", ErrMalformed)
		}
		return err
	}
	if !rd.found {
		return fmt.Errorf("%w: no chats and no messages", ErrNotExport)
	}
	return nil
}

// object reads the members of a chat object, up to its closing brace. At the top level it
// is also the account export's object, whose chat lists are read.
func (rd *reader) object(top bool) error {
	var h header
	for rd.dec.More() {
		key, err := rd.key()
		if err != nil {
			return err
		}
		switch {
		case key == "name":
			err = rd.dec.Decode(&h.name)
		case key == "type":
			err = rd.dec.Decode(&h.typ)
			h.hasType = true
		case key == "id":
			h.id, err = rd.number()
			h.hasID = err == nil
		case key == "messages":
			rd.found = true
			err = rd.messages(h)
		case top && (key == "chats" || key == "left_chats"):
			rd.found = true
			err = rd.chatList()
		default:
			err = rd.skip()
		}
		if err != nil {
			return err
		}
	}
	_, err := rd.dec.Token() // the closing brace: More said there is no member left
	return err
}

// chatList reads {"about": ..., "list": [chat, ...]}.
func (rd *reader) chatList() error {
	if err := rd.delim('{', "chat list"); err != nil {
		return err
	}
	for rd.dec.More() {
		key, err := rd.key()
		if err != nil {
			return err
		}
		if key != "list" {
			if err := rd.skip(); err != nil {
				return err
			}
			continue
		}
		if err := rd.delim('[', "chats.list"); err != nil {
			return err
		}
		for rd.dec.More() {
			if err := rd.delim('{', "chat"); err != nil {
				return err
			}
			if err := rd.object(false); err != nil {
				return err
			}
		}
		if _, err := rd.dec.Token(); err != nil {
			return err
		}
	}
	_, err := rd.dec.Token()
	return err
}

// groupTypes are the chat types imported, and the prefix that makes the export's bare id
// the Bot API id.
var groupTypes = map[string]string{
	"private_supergroup": "-100",
	"public_supergroup":  "-100",
	"private_group":      "-",
}

func (rd *reader) messages(h header) error {
	if !h.hasType {
		// The export writes a chat's type first: without it, a group would be skipped as
		// if it were someone's personal chat.
		return fmt.Errorf("%w: a chat's messages come before its type", ErrMalformed)
	}
	prefix, ok := groupTypes[h.typ]
	if !ok {
		rd.sum.OtherChats++
		return rd.skip()
	}
	if !h.hasID || h.id <= 0 {
		return fmt.Errorf("%w: a group's messages come before its id", ErrMalformed)
	}
	chat, err := strconv.ParseInt(prefix+strconv.FormatInt(h.id, 10), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: group id %d out of range", ErrMalformed, h.id)
	}
	if rd.chats[chat] {
		return fmt.Errorf("%w: group %d listed twice", ErrDuplicateID, chat)
	}
	rd.chats[chat] = true
	c := newChatState(rd, chat, h)
	if err := rd.delim('[', "messages"); err != nil {
		return err
	}
	for rd.dec.More() {
		if rd.n++; rd.n%256 == 0 {
			if err := rd.ctx.Err(); err != nil {
				return err
			}
		}
		var m message
		m.Entities.prior = &m.Text
		if err := rd.dec.Decode(&m); err != nil {
			rd.where = fmt.Sprintf("group %d, message #%d of its list: ", chat, c.read+1)
			return err
		}
		c.read++
		if err := c.message(&m); err != nil {
			return err
		}
	}
	if _, err := rd.dec.Token(); err != nil {
		return err
	}
	rd.sum.Groups = append(rd.sum.Groups, c.summary())
	return nil
}

func (rd *reader) key() (string, error) {
	tok, err := rd.dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: object key expected", ErrMalformed)
	}
	return s, nil
}

func (rd *reader) delim(want json.Delim, what string) error {
	tok, err := rd.dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("%w: %s is not %s", ErrMalformed, what, kindOf(want))
	}
	return nil
}

func kindOf(d json.Delim) string {
	if d == '[' {
		return "a list"
	}
	return "an object"
}

// number reads a JSON integer.
func (rd *reader) number() (int64, error) {
	var n json.Number
	if err := rd.dec.Decode(&n); err != nil {
		return 0, err
	}
	v, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%w: a chat id is not an integer", ErrMalformed)
	}
	return v, nil
}

// skip reads past one value, token by token: a chat that is not a group may be most of the
// file, and is never held in memory.
func (rd *reader) skip() error {
	depth := 0
	for {
		tok, err := rd.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// classify turns the decoder's errors into Read's, describing them by position and type only:
// encoding/json's own messages may quote a value of the input.
func (rd *reader) classify(err error, cr *countingReader) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		em  *emitError
		bad *valueError
	)
	switch {
	case cr.over:
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, cr.max)
	case errors.As(err, &em), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: ends at byte %d", ErrTruncated, cr.n)
	case errors.As(err, &syn):
		return fmt.Errorf("%w: %ssyntax error near byte %d", ErrMalformed, rd.where, rd.dec.InputOffset())
	case errors.As(err, &typ):
		return fmt.Errorf("%w: %sfield %q is not %s", ErrMalformed, rd.where, typ.Field, describe(typ.Type))
	case errors.As(err, &bad):
		return fmt.Errorf("%w: %s%s", ErrMalformed, rd.where, bad.reason)
	case isOurs(err):
		return err
	}
	if cr.err != nil && errors.Is(err, cr.err) {
		// The reader's own error (a download cut, a zip's checksum): not the export's fault.
		return fmt.Errorf("reading the export: %w", err)
	}
	// Anything else came from decoding, whose other errors may quote the input (an invalid
	// number literal does).
	return fmt.Errorf("%w: %sunreadable value", ErrMalformed, rd.where)
}

// valueError is a value of the wrong shape, found by an UnmarshalJSON of this package.
type valueError struct{ reason string }

func (e *valueError) Error() string { return e.reason }

// describe names the JSON a Go type reads, for an error: "an integer", never a Go type name.
func describe(t reflect.Type) string {
	if t == nil {
		return "of the expected type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of the expected type"
}

func isOurs(err error) bool {
	for _, e := range []error{ErrNotExport, ErrTruncated, ErrMalformed, ErrFutureDate, ErrDuplicateID, ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// countingReader counts the bytes read and refuses to read past max: Read fails with
// ErrTooLarge as soon as the export is longer, whatever it holds.
type countingReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
	err  error // the reader's last error but EOF
}

var errOver = errors.New("over the byte limit")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		c.over = true
		return 0, errOver
	}
	if room := c.max - c.n + 1; int64(len(p)) > room {
		p = p[:room] // one byte past max is enough to know
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
