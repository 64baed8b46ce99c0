package commands

import (
	"context"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/commands/imports"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// ImportsConfig are the deployment's parts of an organiser's upload (package imports).
type ImportsConfig struct {
	// Downloaders fetch the files of the platforms whose documents relais can read.
	Downloaders map[events.Platform]imports.Downloader
	Importer    imports.Uploader
	Cards       history.Cards
	// Options are an import's bounds now (RELAIS_HISTORY_DAYS, suppressed members, the bot).
	Options func(now time.Time) history.Options
	// Records keeps applied imports and posted notices.
	Records imports.NoticeRecords
	// Wait bounds how long an answer waits for the bridge to apply the import.
	Wait time.Duration
}

// EnableImports turns on the organiser's upload and the post-import notice; it returns the
// feature, whose Ended the bridge calls at each import's end (bridge.Config.HistoryEnded).
// Without it, /importer answers that files go through relais import.
func (h *Handler) EnableImports(c ImportsConfig) (*imports.Feature, error) {
	d := h.importDeps()
	d.Downloaders, d.Importer, d.Cards, d.Options, d.Records, d.Wait = c.Downloaders, c.Importer, c.Cards, c.Options, c.Records, c.Wait
	f, err := imports.New(d)
	if err != nil {
		return nil, err
	}
	h.imports = f
	return f, nil
}

// importDeps are the handler's parts of the feature.
func (h *Handler) importDeps() imports.Deps {
	return imports.Deps{
		Lang: h.cat.Lang, LeaderTag: h.cfg.TagPrefix + bridge.TagLeader, Hash: h.hash, NoScope: h.org.NoScope,
		Scope: func(ctx context.Context, ev events.Event) (scope.Scope, error) {
			return h.Scope(ctx, h.Who(ev.Platform, ev.Sender))
		},
		Replies: h.reply, Pub: h.pub, Log: h.log, Now: h.cfg.Now,
	}
}

// importCommands declares /importer, answered by the imports feature.
func (h *Handler) importCommands() []command.Spec {
	return []command.Spec{imports.Spec(func(ctx context.Context, r command.Request) error {
		return h.imports.Upload(ctx, r.Event)
	})}
}
