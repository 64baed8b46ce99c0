package main

import (
	"context"
	"net/http"
	"time"

	"github.com/relais-bot/relais/bots/telegram"
	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/commands/imports"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// uploadDownloadTimeout bounds one download of an uploaded export (20 MB at most).
const uploadDownloadTimeout = 2 * time.Minute

// enableImports turns on the organiser's upload on the bridge's command handler and returns
// what the bridge calls at each import's end (the post-import notice). The bridge process
// downloads Telegram files itself: it holds TELEGRAM_TOKEN like every role of this process,
// and a file never crosses NATS. WhatsApp documents are not fetched (see README).
func enableImports(rt *runtime, h *commands.Handler, store *consent.Store, q *bridge.Query) (*imports.Feature, error) {
	dl := map[events.Platform]imports.Downloader{}
	if rt.cfg.TelegramToken != "" {
		dl[events.Telegram] = telegram.Files{
			Token: rt.cfg.TelegramToken, APIEndpoint: rt.cfg.TelegramEndpoint, FileEndpoint: rt.cfg.TelegramFileEndpoint,
			Client: &http.Client{Timeout: uploadDownloadTimeout},
		}
	}
	return h.EnableImports(commands.ImportsConfig{
		Downloaders: dl,
		Importer:    &history.Importer{JS: rt.js, Pub: rt.pub, Log: rt.log.With("role", "imports")},
		Cards:       q,
		Records:     history.Records{JS: rt.js, Names: rt.names},
		Options: func(now time.Time) history.Options {
			suppressed := map[string]bool{}
			for _, tok := range store.Suppressed() {
				suppressed[tok] = true
			}
			return history.Options{
				Since:      rt.cfg.HistorySince(now),
				Suppressed: func(tok string) bool { return suppressed[tok] || suppressed[store.Canonical(tok)] },
				BotID:      botID(rt.cfg.TelegramToken),
			}
		},
	})
}

// importEnded forwards the bridge's import ends to the feature, built after the bridge.
type importEnded struct{ f *imports.Feature }

func (e *importEnded) ended(ctx context.Context, importID string, data []byte) error {
	if e.f == nil {
		return nil
	}
	return e.f.Ended(ctx, importID, data)
}
