// Package history imports a group's past (issue #25, "leaders on day one") from the chat
// exports organisers hold: Telegram Desktop's JSON and WhatsApp's "Exporter la discussion"
// text or zip. The export readers (bots/telegram/export, bots/whatsapp/export) turn a file
// into events without text; this package decides what of them enters relais and puts it on
// the event log, where the bridge applies it exactly as it applies live events (see
// events.HeaderHistory).
//
// What holds, and where:
//   - Only groups relais knows (it holds live events of them) are imported; the others are
//     refused by name. A caller may narrow that to a scope (an organiser's groups).
//   - History stops where live begins: per group, only events strictly older than both the
//     first live event the log holds and the oldest event an earlier import brought (the
//     history bucket): nothing is counted twice, and the same file imported again adds
//     nothing.
//   - Nothing older than Options.Since (RELAIS_HISTORY_DAYS, at most the retention).
//   - A file is read twice: once to check it whole (a reader may emit before it finds the
//     file truncated), then to publish; a file that fails the check publishes nothing.
//   - Senders who objected or were erased are not published at all.
//   - Each import ends with one marker on which the bridge settles every member once, so the
//     CRM sees final states only.
package history

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	tgexport "github.com/relais-bot/relais/bots/telegram/export"
	waexport "github.com/relais-bot/relais/bots/whatsapp/export"
	"github.com/relais-bot/relais/events"
)

// Errors of Import; test with errors.Is. The readers' own errors (truncated, future dates,
// duplicated ids, too large) come wrapped as they are.
var (
	ErrUnknownGroup = errors.New("group unknown to relais")
	ErrNoGroup      = errors.New("no group of the file can be imported")
	ErrNeedGroup    = errors.New("a whatsapp export names no group: give --group")
	ErrAmbiguous    = errors.New("several groups have this title: give the JID")
)

// File is one export. It is read twice (check, then publish), from ReaderAt: an *os.File or
// a bytes.Reader of an upload held in memory, never written to disk.
type File struct {
	Name string // shown in errors and the summary
	Data io.ReaderAt
	Size int64
}

// Options say what an import may bring in.
type Options struct {
	// Now is the clock (zero: time.Now): dates after it are an error.
	Now time.Time
	// Since is the oldest time imported: now − RELAIS_HISTORY_DAYS, never before now − the
	// retention. Zero: no bound.
	Since time.Time
	// Group names the group of a WhatsApp export (JID or exact title); when no WhatsApp
	// export is imported, it narrows Telegram exports to one group (id or exact title).
	Group string
	// Scope, when set, refuses groups it says no to (an organiser's upload: their groups).
	Scope func(p events.Platform, groupID string) bool
	// Suppressed says a member token objected or was erased: their events are not imported.
	Suppressed func(token string) bool
	// Location is the WhatsApp exporting phone's time zone (nil: Europe/Paris).
	Location *time.Location
	// MaxBytes bounds each file (0: the readers' defaults).
	MaxBytes int64
	// BotID and BotUsername are relais's Telegram bot: its messages are not members'.
	BotID       int64
	BotUsername string
}

// Importer puts history on one deployment's event log.
type Importer struct {
	JS  jetstream.JetStream
	Pub *events.Publisher
	Log *slog.Logger // nil: discarded
}

// Report is what an import did, group by group.
type Report struct {
	ID      string // the import's id, on its events and end marker
	Groups  []GroupReport
	Refused []string // groups of the files not imported, by title and id, with why
	// EndSeq is the stream sequence of the end marker (0: nothing was published): the
	// import is applied once the bridge consumer acked it (see Applied).
	EndSeq uint64
}

// GroupReport counts one group's imported events.
type GroupReport struct {
	Platform                 events.Platform
	ID, Title, Token         string
	Messages, Members        int
	Joins, Leaves, Reactions int
	First, Last              time.Time // of the events imported
	// Before is where the import stopped: the first live event, or the oldest imported
	// before (zero: none).
	Before time.Time
	// Published counts events stored; Duplicates those the log held already.
	Published, Duplicates int
	// Suppressed counts events of members who objected or were erased, not imported.
	Suppressed int
	// Days is the number of calendar days from First to Last, both included.
	Days int
}

// Import checks every file, then publishes their events and marks the import's end. An
// error before publishing changes nothing; one while publishing may leave part of the
// events stored, which an import run again completes (ids and bounds are deterministic).
func (im *Importer) Import(ctx context.Context, files []File, opt Options) (Report, error) {
	var srcs []source
	for _, f := range files {
		srcs = append(srcs, source{name: f.Name, file: f, whatsapp: sniff(f) != formatTelegram})
	}
	return im.importFrom(ctx, srcs, opt)
}

// ImportEvents imports events already mapped by an adapter (WhatsApp's history sync, its
// quoted messages as replies), with the checks, bounds and end marker of Import. Events
// outside Since..Now are left out.
func (im *Importer) ImportEvents(ctx context.Context, name string, evs []events.Event, opt Options) (Report, error) {
	return im.importFrom(ctx, []source{{name: name, evs: evs}}, opt)
}

// source is a file, or events already mapped.
type source struct {
	name     string
	file     File
	evs      []events.Event
	whatsapp bool // a WhatsApp file: Group names its group
}

func (im *Importer) importFrom(ctx context.Context, files []source, opt Options) (Report, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	log := im.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := newGroups(im.JS, im.Pub)
	if err := g.open(ctx); err != nil {
		return Report{}, err
	}
	run := &run{ctx: ctx, im: im, opt: opt, groups: g, byKey: map[string]*tally{}}
	// Group names a WhatsApp file's group; it narrows Telegram files only when it cannot be
	// meant for a WhatsApp one.
	run.tgGroup = opt.Group
	for _, f := range files {
		if f.whatsapp {
			run.tgGroup = ""
		}
	}
	// Pass 1: every file read whole, nothing published.
	for _, f := range files {
		seen, err := run.read(ctx, f, run.check)
		if err != nil {
			return Report{}, fmt.Errorf("%s: %w", f.name, err)
		}
		// A group the file holds nothing new of is still answered for (or refused).
		for _, g := range seen {
			if _, _, err := run.accept(ctx, g.platform, &g.group); err != nil {
				return Report{}, fmt.Errorf("%s: %w", f.name, err)
			}
		}
	}
	rep := Report{Refused: run.refusedList()}
	if len(run.order) == 0 {
		return rep, fmt.Errorf("%w: %s", ErrNoGroup, strings.Join(rep.Refused, "; "))
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	rep.ID = hex.EncodeToString(id)
	pub := newAsyncPublisher(im.JS)
	run.publish = func(ev events.Event) error {
		m, err := im.Pub.HistoryMsg(ev, rep.ID)
		if err != nil {
			return err
		}
		return pub.publish(ctx, m, run.byKey[groupKey(ev.Platform, ev.Group.ID)])
	}
	// Pass 2: the same events, published.
	for _, f := range files {
		if _, err := run.read(ctx, f, run.emit); err != nil {
			pub.wait(ctx)
			return rep, fmt.Errorf("%s: publish: %w", f.name, err)
		}
	}
	if err := pub.wait(ctx); err != nil {
		return rep, fmt.Errorf("publish: %w", err)
	}
	for _, key := range run.order {
		t := run.byKey[key]
		if t.Published > 0 {
			if err := g.recordImported(ctx, t.Platform, t.Token, t.First); err != nil {
				return rep, err
			}
		}
		rep.Groups = append(rep.Groups, t.GroupReport)
	}
	published := 0
	for _, g := range rep.Groups {
		published += g.Published
	}
	if published == 0 {
		return rep, nil // nothing new: no member to settle
	}
	end := im.Pub.HistoryDoneMsg(rep.ID)
	var body endData
	for _, g := range rep.Groups {
		if g.Published > 0 {
			body.Groups = append(body.Groups, EndedGroup{Platform: g.Platform, ID: g.ID, Token: g.Token, Days: g.Days})
		}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return rep, fmt.Errorf("mark import end: %w", err)
	}
	end.Data = data
	ack, err := im.JS.PublishMsg(ctx, end)
	if err != nil {
		return rep, fmt.Errorf("mark import end: %w", err)
	}
	rep.EndSeq = ack.Sequence
	log.Info("history imported", "import", rep.ID, "groups", len(rep.Groups), "refused", len(rep.Refused))
	return rep, nil
}

// tally is one group's counts during an import.
type tally struct {
	GroupReport
	members map[string]bool
	before  time.Time
}

// run is one Import.
type run struct {
	ctx     context.Context
	im      *Importer
	opt     Options
	groups  *groups
	byKey   map[string]*tally
	order   []string          // group keys accepted, in file order
	refused map[string]string // group key → why, for the groups refused
	refOrd  []string
	tgGroup string // the one Telegram group asked for ("": all)
	publish func(events.Event) error
}

func groupKey(p events.Platform, id string) string { return string(p) + "\x00" + id }

// format is what a file's first bytes say it is.
type format int

const (
	formatTelegram format = iota
	formatWhatsApp
	formatZip
)

func sniff(f File) format {
	head := make([]byte, 64)
	n, _ := f.Data.ReadAt(head, 0)
	head = head[:n]
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return formatZip
	}
	if t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return formatTelegram
	}
	return formatWhatsApp
}

// futureSlack tolerates a phone clock slightly ahead, for events already mapped.
const futureSlack = 15 * time.Minute

// fileGroup is a group a file holds.
type fileGroup struct {
	platform events.Platform
	group    events.Group
}

// read runs the source's reader with emit and returns the groups it holds.
func (r *run) read(ctx context.Context, src source, emit func(events.Event) error) ([]fileGroup, error) {
	if src.evs != nil {
		var out []fileGroup
		seen := map[string]bool{}
		for _, ev := range src.evs {
			if ev.Group == nil || ev.At.Before(r.opt.Since) || ev.At.After(r.opt.Now.Add(futureSlack)) {
				continue
			}
			if k := groupKey(ev.Platform, ev.Group.ID); !seen[k] {
				seen[k] = true
				out = append(out, fileGroup{ev.Platform, *ev.Group})
			}
			if err := emit(ev); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	f := src.file
	switch sniff(f) {
	case formatTelegram:
		sum, err := tgexport.Read(ctx, io.NewSectionReader(f.Data, 0, f.Size), tgexport.Options{
			Now: r.opt.Now, Since: r.opt.Since, MaxBytes: r.opt.MaxBytes, BotID: r.opt.BotID, BotUsername: r.opt.BotUsername,
			Before: func(chat int64) time.Time {
				return r.groups.before(ctx, events.Telegram, strconv.FormatInt(chat, 10))
			},
		}, emit)
		var out []fileGroup
		for _, g := range sum.Groups {
			out = append(out, fileGroup{events.Telegram, events.Group{ID: g.ID, Title: g.Title}})
		}
		return out, err
	default:
		var g events.Group
		err := ErrNeedGroup
		if r.opt.Group != "" {
			g, err = r.groups.find(ctx, events.WhatsApp, r.opt.Group)
		}
		if err != nil {
			// A file that is no export says so first: that is what the user must fix.
			wo := waexport.Options{Group: events.Group{ID: "check@g.us"}, Now: r.opt.Now, MaxBytes: r.opt.MaxBytes, Location: r.opt.Location}
			if ferr := r.readWhatsApp(ctx, f, wo, func(events.Event) error { return nil }); ferr != nil {
				return nil, ferr
			}
			return nil, err
		}
		wo := waexport.Options{Group: g, Since: r.opt.Since, Now: r.opt.Now, MaxBytes: r.opt.MaxBytes, Location: r.opt.Location,
			Before: r.groups.before(ctx, events.WhatsApp, g.ID)}
		return []fileGroup{{events.WhatsApp, g}}, r.readWhatsApp(ctx, f, wo, emit)
	}
}

func (r *run) readWhatsApp(ctx context.Context, f File, wo waexport.Options, emit func(events.Event) error) error {
	var err error
	if sniff(f) == formatZip {
		_, err = waexport.ReadZip(ctx, f.Data, f.Size, wo, emit)
	} else {
		_, err = waexport.Read(ctx, io.NewSectionReader(f.Data, 0, f.Size), wo, emit)
	}
	return err
}

// accept says whether an event's group may be imported, refusing it by name otherwise.
func (r *run) accept(ctx context.Context, p events.Platform, grp *events.Group) (*tally, bool, error) {
	if grp == nil {
		return nil, false, nil
	}
	key := groupKey(p, grp.ID)
	if t, ok := r.byKey[key]; ok {
		return t, true, nil
	}
	if _, ok := r.refused[key]; ok {
		return nil, false, nil
	}
	why := ""
	switch {
	case r.tgGroup != "" && p == events.Telegram && !sameGroup(r.tgGroup, grp):
		why = "not the group asked for"
	case r.opt.Scope != nil && !r.opt.Scope(p, grp.ID):
		why = "not in your groups"
	default:
		known, err := r.groups.known(ctx, p, grp.ID)
		if err != nil {
			return nil, false, err
		}
		if !known {
			why = ErrUnknownGroup.Error()
		}
	}
	if why != "" {
		if r.refused == nil {
			r.refused = map[string]string{}
		}
		r.refused[key] = fmt.Sprintf("%q (%s): %s", grp.Title, grp.ID, why)
		r.refOrd = append(r.refOrd, key)
		return nil, false, nil
	}
	t := &tally{members: map[string]bool{}, before: r.groups.before(ctx, p, grp.ID)}
	t.Platform, t.ID, t.Title, t.Token, t.Before = p, grp.ID, grp.Title, r.im.Pub.Hasher().Group(p, grp.ID), t.before
	r.byKey[key] = t
	r.order = append(r.order, key)
	return t, true, nil
}

// sameGroup says whether a --group value names g: its id (a supergroup's with or without
// -100) or its exact title.
func sameGroup(want string, g *events.Group) bool {
	return want == g.ID || "-100"+want == g.ID || want == g.Title
}

func (r *run) refusedList() []string {
	out := make([]string, 0, len(r.refOrd))
	for _, k := range r.refOrd {
		out = append(out, r.refused[k])
	}
	return out
}

// suppressed says whether an event's sender objected or was erased.
func (r *run) suppressed(ev events.Event) bool {
	return r.opt.Suppressed != nil && r.opt.Suppressed(r.im.Pub.Hasher().Member(ev.Platform, ev.Sender.ID))
}

// check is pass 1: counts, no publishing.
func (r *run) check(ev events.Event) error {
	t, ok, err := r.accept(r.ctx, ev.Platform, ev.Group)
	if err != nil || !ok {
		return err
	}
	if !t.before.IsZero() && !ev.At.Before(t.before) {
		return nil // the reader's bound, checked again: Before was looked up once
	}
	if r.suppressed(ev) {
		t.Suppressed++
		return nil
	}
	switch ev.Kind {
	case events.KindMessage:
		t.Messages++
		t.members[ev.Sender.ID] = true
		t.Members = len(t.members)
	case events.KindJoin:
		t.Joins++
	case events.KindLeave:
		t.Leaves++
	case events.KindReaction:
		t.Reactions++
	}
	if t.First.IsZero() || ev.At.Before(t.First) {
		t.First = ev.At
	}
	if ev.At.After(t.Last) {
		t.Last = ev.At
	}
	t.Days = spanDays(t.First, t.Last)
	return nil
}

// emit is pass 2: the events pass 1 counted, published.
func (r *run) emit(ev events.Event) error {
	if ev.Group == nil {
		return nil
	}
	t, ok := r.byKey[groupKey(ev.Platform, ev.Group.ID)]
	if !ok || (!t.before.IsZero() && !ev.At.Before(t.before)) || r.suppressed(ev) {
		return nil
	}
	return r.publish(ev)
}
