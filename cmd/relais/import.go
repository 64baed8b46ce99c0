package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/relais-bot/relais/bots/whatsapp"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/history"
)

// cmdImport is `relais import FILE... [--group <JID or exact title>]`: a group's past from
// chat exports (package history). It publishes onto the event log, through NATS_URL or on
// the embedded data dir while relais is stopped; the bridge applies it (at once when it
// runs, at its next start otherwise).
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "file of NAME=value settings read after the environment")
	group := fs.String("group", "", "the group of a WhatsApp export (JID or exact title), or one group of a Telegram export")
	tz := fs.String("tz", "Europe/Paris", "time zone of the phone a WhatsApp export was made on")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: relais import FILE... [--group <JID or exact title>] [--tz Europe/Paris]")
		fs.PrintDefaults()
	}
	var paths []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(paths) == 0 {
		return usageError{"usage: relais import FILE... [--group <JID or exact title>]"}
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return usageError{fmt.Sprintf("import: --tz %q: %v", *tz, err)}
	}
	cfg, err := loadFromProcess(*envFile)
	if err != nil {
		return err
	}
	var files []history.File
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		files = append(files, history.File{Name: p, Data: f, Size: st.Size()})
	}
	log := newLogger(cfg.LogLevel)
	rt, err := openRuntime(ctx, cfg, log, false)
	if errors.Is(err, embedded.ErrInUse) {
		return fmt.Errorf("import: relais is running on %s: stop it first, or import through NATS_URL", cfg.DataDir)
	}
	if err != nil {
		return err
	}
	defer rt.Close()
	store, err := consent.New(ctx, rt.js, rt.names, cfg.SyncPolicy)
	if err != nil {
		return err
	}
	defer store.Close()
	suppressed := map[string]bool{}
	for _, tok := range store.Suppressed() {
		suppressed[tok] = true
	}
	now := time.Now()
	im := history.Importer{JS: rt.js, Pub: rt.pub, Log: log}
	rep, err := im.Import(ctx, files, history.Options{
		Now: now, Since: cfg.HistorySince(now), Group: *group, Location: loc,
		Suppressed: func(tok string) bool { return suppressed[tok] || suppressed[store.Canonical(tok)] },
		BotID:      botID(cfg.TelegramToken),
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	writeReport(stdout, rep, cfg.NATSURL == "")
	return nil
}

// botID is the bot's user id: the digits before the token's colon.
func botID(token string) int64 {
	id, _, _ := strings.Cut(token, ":")
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// writeReport prints what an import did, group by group.
func writeReport(w io.Writer, rep history.Report, embeddedNATS bool) {
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.DateOnly)
	}
	msgs := 0
	for _, g := range rep.Groups {
		msgs += g.Messages
		fmt.Fprintf(w, "%s %q (%s): %d messages, %d members, %d joins, %d leaves, %d reactions, from %s to %s\n",
			g.Platform, g.Title, g.ID, g.Messages, g.Members, g.Joins, g.Leaves, g.Reactions, day(g.First), day(g.Last))
		fmt.Fprintf(w, "  stored %d events (%d already there); history stops before %s, where relais began to listen",
			g.Published, g.Duplicates, day(g.Before))
		if g.Suppressed > 0 {
			fmt.Fprintf(w, "; %d events of members who objected or were erased left out", g.Suppressed)
		}
		fmt.Fprintln(w)
	}
	for _, r := range rep.Refused {
		fmt.Fprintf(w, "refused %s\n", r)
	}
	switch {
	case msgs == 0:
		fmt.Fprintln(w, "nothing new to import")
	case embeddedNATS:
		fmt.Fprintln(w, "no text was kept; relais counts this history at its next start")
	default:
		fmt.Fprintln(w, "no text was kept; a running relais counts this history now")
	}
}

// historySink imports WhatsApp's history syncs through the history path: only groups relais
// knows, only what is older than live, settled once at the end. Members who objected or were
// erased are refused by the bridge's consent gate (their events are then forgotten).
func historySink(rt *runtime) whatsapp.HistorySink {
	im := &history.Importer{JS: rt.js, Pub: rt.pub, Log: rt.log.With("role", "whatsapp")}
	return func(ctx context.Context, evs []events.Event) error {
		now := time.Now()
		rep, err := im.ImportEvents(ctx, "whatsapp history sync", evs, history.Options{Now: now, Since: rt.cfg.HistorySince(now)})
		if errors.Is(err, history.ErrNoGroup) {
			return nil // a sync of groups relais does not follow (yet)
		}
		if err != nil {
			return err
		}
		rt.log.Info("whatsapp history sync imported", "groups", len(rep.Groups), "refused", len(rep.Refused))
		return nil
	}
}
