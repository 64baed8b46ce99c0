// Package imports answers an organiser who sends a chat export to the bot in private
// (issue #25, "leaders on day one"): the file is fetched by its platform handle as a stream,
// held in memory only, imported into the organiser's groups only, answered with a summary
// naming the leaders found, and its message is then deleted from the chat. It also posts the
// post-import notice in each group an import brought history into, once per group.
package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// MaxBytes is the largest export an upload may be: what Telegram's Bot API hands a bot.
const MaxBytes = 20 << 20

// Downloader opens a file sent to the bot, by its platform handle, as a stream (Telegram:
// telegram.Files). Nothing is written to disk.
type Downloader interface {
	Open(ctx context.Context, fileID string) (io.ReadCloser, error)
}

// Uploader imports one uploaded export and names the leaders found (history.Importer).
type Uploader interface {
	Upload(ctx context.Context, f history.File, opt history.Options, cards history.Cards, leaderTag string, wait time.Duration) (history.UploadSummary, error)
}

// Deps are what the feature needs from the handler and the deployment.
type Deps struct {
	Lang string
	// Downloaders fetch the files of the platforms whose documents relais can read; a
	// platform without one answers that the file must go through relais import.
	Downloaders map[events.Platform]Downloader
	Importer    Uploader
	Cards       history.Cards
	// LeaderTag is the deployment's leader tag (RELAIS_TAG_PREFIX + bridge.TagLeader).
	LeaderTag string
	// Wait bounds how long the answer waits for the bridge to apply the import (default 1 min).
	Wait time.Duration
	// Options are the import's bounds now: Since, Suppressed, the bot's own id.
	Options func(now time.Time) history.Options
	// Scope is the organiser's groups; Hash turns a group id into its token.
	Scope   func(ctx context.Context, ev events.Event) (scope.Scope, error)
	Hash    events.Hasher
	NoScope string // the answer to an organiser in none of the groups
	Replies *reply.Sender
	// Records keeps applied imports and posted notices (history.Records); Pub posts the
	// notices.
	Records NoticeRecords
	Pub     reply.Publisher
	Log     *slog.Logger
	Now     func() time.Time
}

// NoticeRecords is where applied imports and posted notices are recorded (history.Records).
type NoticeRecords interface {
	Ended(ctx context.Context, importID string, groups []history.EndedGroup) ([]history.EndedGroup, error)
	NoticePosted(ctx context.Context, g history.EndedGroup) error
}

// Feature is the organiser's upload and the post-import notice.
type Feature struct {
	d   Deps
	txt texts
}

// New checks deps and reads the texts of d.Lang.
func New(d Deps) (*Feature, error) {
	txt, err := textsFor(d.Lang)
	if err != nil {
		return nil, err
	}
	switch {
	case d.Replies == nil:
		return nil, errors.New("imports: replies are required")
	case d.Importer != nil && (d.Cards == nil || d.Options == nil || d.Scope == nil):
		return nil, errors.New("imports: an importer needs cards, options and a scope")
	}
	if d.Wait <= 0 {
		d.Wait = time.Minute
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Feature{d: d, txt: txt}, nil
}

// Spec declares the upload: an organiser's document sent privately, or /importer typed
// alone (which says how to send one). It runs off the bridge's batch loop: it downloads,
// imports, and waits for the bridge to apply what it published. run answers it (Upload).
func Spec(run command.Func) command.Spec {
	return command.Spec{Key: "importer", Names: []string{events.UploadCommand, "import"}, English: "import",
		Who: command.Organisers, Rate: command.Limited, Arg: events.ArgNone, Listed: true, Background: true, Run: run}
}

// Upload answers one upload. Whatever the outcome, the file's message is deleted once read.
func (f *Feature) Upload(ctx context.Context, ev events.Event) error {
	doc := ev.Document
	if doc == nil {
		return f.answer(ctx, ev, "usage", f.txt.Usage)
	}
	dl, ok := f.d.Downloaders[ev.Platform]
	if !ok || f.d.Importer == nil {
		return f.answer(ctx, ev, "unavailable", f.txt.Unavailable)
	}
	text, err := f.importDoc(ctx, ev, dl)
	if err != nil {
		return err
	}
	if err := f.answer(ctx, ev, "summary", text); err != nil {
		return err
	}
	if doc.Message == "" {
		return nil
	}
	del := f.d.Replies.Private(ev, "delete", "")
	del.Text, del.Delete = "", doc.Message
	return f.d.Replies.Send(ctx, del)
}

// importDoc downloads and imports the document; it returns the answer, an error only when
// the import should be tried again (a transport failure).
func (f *Feature) importDoc(ctx context.Context, ev events.Event, dl Downloader) (string, error) {
	doc := ev.Document
	if doc.Size > MaxBytes {
		return f.txt.TooLarge.N(MaxBytes >> 20), nil
	}
	sc, err := f.d.Scope(ctx, ev)
	if err != nil {
		return "", err
	}
	if sc.Empty() {
		return f.d.NoScope, nil
	}
	rc, err := dl.Open(ctx, doc.FileID)
	if err != nil {
		f.d.Log.Warn("upload: download failed", "err", err.Error())
		return f.failed(err, ""), nil
	}
	name := "export"
	if doc.Ext != "" {
		name += "." + doc.Ext
	}
	file, err := history.ReadUpload(rc, name, MaxBytes)
	rc.Close()
	if err != nil {
		f.d.Log.Warn("upload: read failed", "err", err.Error())
		return f.failed(err, ""), nil
	}
	now := f.d.Now()
	opt := f.d.Options(now)
	// A WhatsApp export names its group only in its file name.
	opt.Now, opt.MaxBytes, opt.Group = now, MaxBytes, doc.Chat
	opt.Scope = func(p events.Platform, groupID string) bool { return sc.Has(f.d.Hash.Group(p, groupID)) }
	sum, err := f.d.Importer.Upload(ctx, file, opt, f.d.Cards, f.d.LeaderTag, f.d.Wait)
	if err != nil {
		// The reason names no member and quotes no text (the readers' errors are positions
		// and kinds); the log keeps only that an upload failed.
		f.d.Log.Info("upload refused", "groups", len(sum.Groups), "refused", len(sum.Refused))
		return f.failed(err, doc.Chat, sum.Refused...), nil
	}
	f.d.Log.Info("upload imported", "import", sum.ID, "groups", len(sum.Groups), "applied", sum.Applied)
	return f.summary(sum, sc), nil
}

func (f *Feature) answer(ctx context.Context, ev events.Event, kind, text string) error {
	return f.d.Replies.SendPrivately(ctx, ev, f.d.Replies.Private(ev, kind, reply.Clip(text)))
}

// maxLeadersNamed bounds the leaders named per group in the answer.
const maxLeadersNamed = 10

// summary is the answer to an import that went through.
func (f *Feature) summary(sum history.UploadSummary, sc scope.Scope) string {
	var b strings.Builder
	msgs := 0
	for _, g := range sum.Groups {
		msgs += g.Messages
	}
	if msgs == 0 {
		b.WriteString(f.txt.Nothing)
	} else {
		b.WriteString(f.txt.Title)
	}
	for _, g := range sum.Groups {
		if g.Messages == 0 && g.Published == 0 {
			continue
		}
		b.WriteString("\n\n" + fmt.Sprintf(f.txt.Group, g.Title, g.Messages, g.Members, f.date(g.First), f.date(g.Last)))
		var names []string
		for _, c := range sum.Leaders[g.Token] {
			if c, ok := sc.Card(c); ok && c.Name != "" && len(names) < maxLeadersNamed {
				names = append(names, c.Name)
			}
		}
		switch {
		case len(names) > 0:
			b.WriteString("\n" + fmt.Sprintf(f.txt.Leaders, strings.Join(names, ", ")))
		case sum.Applied:
			b.WriteString("\n" + f.txt.NoLeaders)
		}
	}
	if !sum.Applied && msgs > 0 {
		b.WriteString("\n\n" + f.txt.Pending)
	}
	if len(sum.Refused) > 0 {
		b.WriteString("\n\n" + fmt.Sprintf(f.txt.Refused, strings.Join(sum.Refused, "; ")))
	}
	return b.String()
}

func (f *Feature) date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(f.txt.DateLayout)
}

// failed says why nothing was imported, in the organiser's words where the reason is known.
func (f *Feature) failed(err error, chat string, refused ...string) string {
	reason := err.Error()
	switch {
	case isNoGroup(err):
		// The groups refused, by title and why: the organiser's own file names them.
		return fmt.Sprintf(f.txt.Failed, fmt.Sprintf(f.txt.NoGroup, strings.Join(refused, "; ")))
	case errors.Is(err, history.ErrNeedGroup):
		return fmt.Sprintf(f.txt.Failed, f.txt.NeedGroup)
	case errors.Is(err, history.ErrUnknownGroup), errors.Is(err, history.ErrAmbiguous):
		return fmt.Sprintf(f.txt.Failed, fmt.Sprintf(f.txt.UnknownGroup, chat))
	}
	for _, k := range f.reasons() {
		if errors.Is(err, k.err) {
			reason = k.text
			break
		}
	}
	return fmt.Sprintf(f.txt.Failed, reason)
}
