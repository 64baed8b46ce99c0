package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relais-bot/relais/events"
)

// Errors of Read and ReadZip; test with errors.Is. Their texts name line numbers, never
// what a line says.
var (
	ErrNotExport   = errors.New("not a whatsapp export")
	ErrBinary      = errors.New("binary data, not text")
	ErrTooLarge    = errors.New("export over the size limit")
	ErrFuture      = errors.New("date in the future (check the day order and location)")
	ErrDayOrder    = errors.New("dates contradict the day order (set Options.Layout)")
	ErrNoChat      = errors.New("no chat text file in the archive")
	ErrOptions     = errors.New("invalid options")
	ErrLineTooLong = errors.New("line too long")
)

// DefaultMaxBytes bounds an export when Options.MaxBytes is 0: years of a busy group's text
// fit well within it.
const DefaultMaxBytes = 128 << 20

// maxLine bounds one line: WhatsApp caps a message at 65,536 characters (at most 256 KiB).
const maxLine = 1 << 20

// maxPending bounds the lines held while the day order is undecided; past it the fallback
// order is taken, and a later date contradicting it is ErrDayOrder.
const maxPending = 100_000

// futureSlack tolerates a phone clock slightly ahead and minute-precision stamps.
const futureSlack = 15 * time.Minute

// maxMentions bounds an event's mentions, so it stays far within events.MaxSize.
const maxMentions = 50

// Options says which group the export is of and which part of it to import.
type Options struct {
	// Group names the group (JID and title): a WhatsApp export carries no id. Its title
	// also recognises iOS notices, which iOS writes as "Title: ‎notice".
	Group events.Group
	// Since: older messages are not imported (zero: no limit).
	Since time.Time
	// Before: only strictly older messages are imported, so history stops where live
	// begins (zero: no limit).
	Before time.Time
	// Now: a later date is an error (zero: time.Now()).
	Now time.Time
	// MaxBytes bounds the text read (0: DefaultMaxBytes).
	MaxBytes int64
	// Location is the exporting phone's time zone: exports write local time without an
	// offset (nil: Europe/Paris).
	Location *time.Location
	// Layout is the day order to use when the file's dates never settle it.
	Layout DayOrder
	// Resolve maps a sender's exported name (the exporting phone's contact name) to a
	// member of the group the caller knows. Unresolved names get a pseudo id (see the
	// package doc). It is called once per distinct name.
	Resolve func(name string) (events.Member, bool)
}

// Summary is what an export held, for the import's answer to the organiser.
type Summary struct {
	Lines    int // lines read
	Messages int // message events emitted (media included)
	Joins    int // join events emitted
	Leaves   int // leave events emitted
	Deleted  int // deleted messages, skipped
	Notices  int // other system lines, skipped
	Filtered int // events outside Since..Before, not emitted
	// Members is the number of distinct senders of emitted messages.
	Members     int
	First, Last time.Time // of emitted events
	Layout      string    // "android" or "ios"
	DayOrder    DayOrder
	// DayOrderBy says what settled the day order: "dates", "layout" (Options.Layout),
	// "language" (French notices), "clock" (12 h), "default" or "format" (year first).
	DayOrderBy string
}

// Read parses an export and calls emit for each event, in file order. Events are emitted
// as soon as the day order is known, so emit may have run when an error comes; ids are
// deterministic, so a fixed re-run completes the import without counting twice. An error
// of emit stops Read and is returned wrapped.
func Read(ctx context.Context, r io.Reader, opt Options, emit func(events.Event) error) (Summary, error) {
	p, err := newParser(opt, emit)
	if err != nil {
		return Summary{}, err
	}
	limit := opt.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	lr := &limitReader{r: r, left: limit}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		if p.sum.Lines%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return p.sum, fmt.Errorf("whatsapp export: %w", err)
			}
		}
		p.sum.Lines++
		if err := p.line(sc.Bytes()); err != nil {
			return p.sum, fmt.Errorf("whatsapp export: line %d: %w", p.sum.Lines, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = ErrLineTooLong
		}
		return p.sum, fmt.Errorf("whatsapp export: line %d: %w", p.sum.Lines+1, err)
	}
	if err := p.finish(); err != nil {
		return p.sum, fmt.Errorf("whatsapp export: %w", err)
	}
	return p.sum, nil
}

// limitReader fails with ErrTooLarge past its limit, rather than truncating silently.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a file of exactly the limit from a larger one.
		var one [1]byte
		if n, _ := io.ReadFull(l.r, one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(b)) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	return n, err
}

// record is one dated line parsed, waiting for the day order or for its continuation lines.
// It holds counts and member indexes only: the text is gone.
type record struct {
	line     int
	st       stamp
	kind     events.Kind
	member   int32
	ordinal  int32
	chars    int
	media    bool
	extra    bool // a continuation line was added
	mentions []int32
}

// ordKey is what makes two lines identical for the ordinal: kind, sender and the stamp as
// written, packed so the map hashes a few words rather than the whole stamp.
type ordKey struct {
	kind   byte // the kind's first letter: m, j, l (hashing the string cost a tenth)
	member int32
	when   uint64
}

func pack(st stamp) uint64 {
	return uint64(st.year)<<32 | uint64(st.a)<<24 | uint64(st.b)<<16 | uint64(st.hour)<<12 | uint64(st.min)<<6 | uint64(st.sec)
}

type parser struct {
	opt     Options
	emit    func(events.Event) error
	sum     Summary
	group   *events.Group
	idGroup string // the group part of event ids

	started bool
	cut     bool // a line ended in an incomplete character: it must be the last
	shape   shape
	order   DayOrder
	lang    lang
	pending []record // waiting for the day order
	open    *record  // the last message, which continuation lines extend
	hasOpen bool

	members  []events.Member
	byLabel  map[string]int32 // sender label as written → member
	byName   map[string]int32 // clean name → member
	names    nameTrie         // the same names, for mentions
	byPhone  map[string]int32 // digits → member, for mentions
	counted  []bool           // member sent an emitted message
	ordinals map[ordKey]int32
}

func newParser(opt Options, emit func(events.Event) error) (*parser, error) {
	g := opt.Group
	switch {
	case emit == nil:
		return nil, fmt.Errorf("whatsapp export: %w: emit is nil", ErrOptions)
	case g.ID == "" || len(g.ID) > 128 || strings.ContainsAny(g.ID, " \t\r\n"):
		return nil, fmt.Errorf("whatsapp export: %w: group id missing or malformed", ErrOptions)
	case !opt.Since.IsZero() && !opt.Before.IsZero() && !opt.Since.Before(opt.Before):
		return nil, fmt.Errorf("whatsapp export: %w: since is not before before", ErrOptions)
	}
	if opt.Location == nil {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			return nil, fmt.Errorf("whatsapp export: location: %w", err)
		}
		opt.Location = loc
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	idGroup, _, _ := strings.Cut(g.ID, "@")
	return &parser{
		opt: opt, emit: emit, idGroup: idGroup,
		group:    &events.Group{ID: g.ID, Title: g.Title},
		byLabel:  map[string]int32{},
		byName:   map[string]int32{},
		byPhone:  map[string]int32{},
		ordinals: map[ordKey]int32{},
	}, nil
}

// line handles one line of the file. The last line may have been cut mid-character by a
// truncated download: that is fine, so a line ending in an incomplete character is read
// without it, and only a line after it makes it an error. Garbage elsewhere is binary.
func (p *parser) line(b []byte) error {
	if p.cut {
		return ErrBinary
	}
	b = bytes.TrimSuffix(b, []byte("\r"))
	if !utf8.Valid(b) {
		if !truncatedRune(b) {
			return ErrBinary
		}
		b = b[:len(b)-tailLen(b)]
		p.cut = true
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return ErrBinary
	}
	s := strings.TrimLeftFunc(string(b), isMark)
	st, sh, rest, ok := parseHeader(s)
	if ok && p.started && sh != p.shape {
		ok = false
	}
	if ok && p.order != OrderUnknown && !p.fits(st) {
		if p.sum.DayOrderBy != "dates" {
			return ErrDayOrder
		}
		ok = false // a date impossible in the file's order is text
	}
	if !ok {
		if !p.started {
			if strings.TrimSpace(s) == "" {
				return nil
			}
			return ErrNotExport
		}
		p.continuation(string(b))
		return nil
	}
	if !p.started {
		p.started, p.shape = true, sh
		p.sum.Layout = "android"
		if sh.bracket {
			p.sum.Layout = "ios"
		}
		if sh.yearLead {
			p.order, p.sum.DayOrder, p.sum.DayOrderBy = YearFirst, YearFirst, "format"
		}
	}
	if p.order == OrderUnknown && st.validDF != st.validMF {
		p.order = DayFirst
		if st.validMF {
			p.order = MonthFirst
		}
		p.sum.DayOrder, p.sum.DayOrderBy = p.order, "dates"
	}
	if err := p.close(); err != nil {
		return err
	}
	return p.dated(st, rest)
}

// fits reports whether a stamp is a valid date in the order decided.
func (p *parser) fits(st stamp) bool {
	if p.order == DayFirst {
		return st.validDF
	}
	return st.validMF
}

func truncatedRune(b []byte) bool {
	n := tailLen(b)
	return n > 0 && utf8.Valid(b[:len(b)-n])
}

// tailLen is the length of an incomplete rune at the end of b (0 if none).
func tailLen(b []byte) int {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return i
			}
			return 0
		}
	}
	return 0
}

// dated handles the part of a dated line after its prefix.
func (p *parser) dated(st stamp, rest string) error {
	sender, text, isNotice := splitSender(rest, p.opt.Group.Title)
	if isNotice {
		return p.notice(st, parseNotice(text))
	}
	kind, l := classify(text)
	if kind == lineMessage && strings.HasPrefix(text, lrm) {
		// iOS marks what it wrote itself, not what the sender typed. A notice under a
		// title other than Options.Group.Title (the group was renamed) is still a notice;
		// other generated content (a poll, a location, a contact) is a message of 0 chars,
		// as the live mapper counts them.
		if n := parseNotice(text); n.lang != langUnknown {
			return p.notice(st, n)
		}
		kind = lineMedia
	}
	p.hint(l)
	rec := record{line: p.sum.Lines, st: st, kind: events.KindMessage, member: p.member(sender)}
	// The ordinal counts every line of this sender at this time, deleted ones included.
	rec.ordinal = p.ordinal(rec)
	switch kind {
	case lineDeleted:
		p.sum.Deleted++
		return nil
	case lineMedia:
		rec.media = true
	default:
		rec.chars = chars(text)
		rec.mentions = p.mentions(text, nil)
	}
	p.open, p.hasOpen = &rec, true
	return nil
}

// notice queues the joins and leaves a system line names; other notices are counted only.
func (p *parser) notice(st stamp, n notice) error {
	p.hint(n.lang)
	if len(n.join)+len(n.leave) == 0 {
		p.sum.Notices++
		return nil
	}
	for _, l := range n.join {
		if err := p.add(record{line: p.sum.Lines, st: st, kind: events.KindJoin, member: p.member(l)}); err != nil {
			return err
		}
	}
	for _, l := range n.leave {
		if err := p.add(record{line: p.sum.Lines, st: st, kind: events.KindLeave, member: p.member(l)}); err != nil {
			return err
		}
	}
	return nil
}

// continuation adds a line without a date to the open message: its length (and the line
// break before it, which the live count includes) and its mentions.
func (p *parser) continuation(s string) {
	if !p.hasOpen || strings.HasPrefix(s, lrm) {
		// A notice's extra lines, lines after a deleted message, or what iOS wrote
		// itself (a poll's options): nobody typed them.
		return
	}
	r := p.open
	n := chars(s)
	if !(r.media && !r.extra) {
		n++ // the line break; a media's first extra line is its caption
	}
	r.chars += n
	r.extra = true
	r.mentions = p.mentions(s, r.mentions)
}

// close queues the open message once no more lines can extend it.
func (p *parser) close() error {
	if !p.hasOpen {
		return nil
	}
	r := *p.open
	p.open, p.hasOpen = nil, false
	return p.add(r)
}

func (p *parser) ordinal(r record) int32 {
	k := ordKey{kind: r.kind[0], member: r.member, when: pack(r.st)}
	n := p.ordinals[k]
	p.ordinals[k] = n + 1
	return n
}

// add emits a record, or holds it while the day order is unknown.
func (p *parser) add(r record) error {
	if r.kind != events.KindMessage {
		r.ordinal = p.ordinal(r)
	}
	if p.order == OrderUnknown {
		p.pending = append(p.pending, r)
		if len(p.pending) < maxPending {
			return nil
		}
		p.fallback()
	}
	if err := p.flush(); err != nil {
		return err
	}
	return p.send(r)
}

func (p *parser) hint(l lang) {
	if p.lang == langUnknown {
		p.lang = l
	}
}

// fallback decides the day order when the dates did not.
func (p *parser) fallback() {
	switch {
	case p.opt.Layout != OrderUnknown && p.opt.Layout != YearFirst:
		p.order, p.sum.DayOrderBy = p.opt.Layout, "layout"
	case p.lang == langFR:
		p.order, p.sum.DayOrderBy = DayFirst, "language"
	case p.shape.twelve:
		p.order, p.sum.DayOrderBy = MonthFirst, "clock"
	default:
		p.order, p.sum.DayOrderBy = DayFirst, "default"
	}
	p.sum.DayOrder = p.order
}

func (p *parser) flush() error {
	for i, r := range p.pending {
		if err := p.send(r); err != nil {
			p.pending = p.pending[i+1:]
			return err
		}
	}
	p.pending = p.pending[:0]
	return nil
}

// finish closes the last message and decides the day order if the file never did.
func (p *parser) finish() error {
	if !p.started {
		return ErrNotExport
	}
	if err := p.close(); err != nil {
		return err
	}
	if p.order == OrderUnknown {
		p.fallback()
	}
	if err := p.flush(); err != nil {
		return err
	}
	// Two names may resolve to one member: count ids, not labels.
	ids := map[string]bool{}
	for i, c := range p.counted {
		if c {
			ids[p.members[i].ID] = true
		}
	}
	p.sum.Members = len(ids)
	return nil
}

// send turns a record into an event and emits it, if it is within Since..Before.
func (p *parser) send(r record) error {
	st := r.st
	month, day := st.a, st.b
	if p.order == DayFirst {
		month, day = st.b, st.a
	}
	if !p.fits(st) {
		return fmt.Errorf("line %d: %w", r.line, ErrDayOrder)
	}
	at := time.Date(st.year, time.Month(month), day, st.hour, st.min, st.sec, 0, p.opt.Location).UTC()
	if at.After(p.opt.Now.Add(futureSlack)) {
		return fmt.Errorf("line %d: %w", r.line, ErrFuture)
	}
	if (!p.opt.Since.IsZero() && at.Before(p.opt.Since)) || (!p.opt.Before.IsZero() && !at.Before(p.opt.Before)) {
		p.sum.Filtered++
		return nil
	}
	sender := p.members[r.member]
	ev := events.Event{
		V:        events.Version,
		ID:       p.eventID(r.kind, sender.ID, st.year, month, day, st, r.ordinal),
		Kind:     r.kind,
		Platform: events.WhatsApp,
		At:       at,
		Group:    p.group,
		Sender:   sender,
		Chars:    r.chars,
	}
	for _, m := range r.mentions {
		ev.Mentions = append(ev.Mentions, p.members[m].ID)
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("line %d: %w", r.line, err)
	}
	if err := p.emit(ev); err != nil {
		return fmt.Errorf("emit: %w", err)
	}
	switch r.kind {
	case events.KindMessage:
		p.sum.Messages++
		p.counted[r.member] = true
	case events.KindJoin:
		p.sum.Joins++
	case events.KindLeave:
		p.sum.Leaves++
	}
	if p.sum.First.IsZero() || at.Before(p.sum.First) {
		p.sum.First = at
	}
	if at.After(p.sum.Last) {
		p.sum.Last = at
	}
	return nil
}

// eventID hashes the group, kind, sender, local wall time and ordinal (see the package doc).
// Built by hand: fmt here took a fifth of the benchmark.
func (p *parser) eventID(kind events.Kind, sender string, year, month, day int, st stamp, ordinal int32) string {
	b := make([]byte, 0, 128)
	b = append(b, p.opt.Group.ID...)
	b = append(b, 0)
	b = append(b, kind...)
	b = append(b, 0)
	b = append(b, sender...)
	b = append(b, 0)
	// The wall time as "2006-01-02T15:04:05".
	b = strconv.AppendInt(b, int64(year), 10)
	for _, f := range [...]struct {
		sep byte
		v   int
	}{{'-', month}, {'-', day}, {'T', st.hour}, {':', st.min}, {':', st.sec}} {
		b = append(b, f.sep, byte('0'+f.v/10), byte('0'+f.v%10))
	}
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(ordinal), 10)
	sum := sha256.Sum256(b)
	return "whatsapp:" + p.idGroup + ":export:" + hex.EncodeToString(sum[:16])
}
