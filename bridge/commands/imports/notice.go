package imports

import (
	"context"
	"fmt"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/history"
)

// Ended posts the post-import notice in each group of an import the bridge applied, if that
// group never had it (bridge.Config.HistoryEnded). The notice is published under an id of
// the group's own before its flag is set: a crash between the two publishes it again, and
// JetStream drops the duplicate; once flagged, no replica and no later import posts it.
//
// The running bridge posts it, whichever path imported (relais import while relais was
// stopped included: its end marker waits in the log for the next start), so the notice goes
// out exactly when the history is counted, and through the one replies stream.
func (f *Feature) Ended(ctx context.Context, importID string, data []byte) error {
	groups, err := history.DecodeEnded(data)
	if err != nil {
		f.d.Log.Warn("import end unreadable: no notice", "err", err.Error())
		return nil
	}
	if len(groups) == 0 || f.d.Records == nil || f.d.Pub == nil {
		return nil
	}
	due, err := f.d.Records.Ended(ctx, importID, groups)
	if err != nil {
		return err
	}
	for _, g := range due {
		r := events.Reply{V: events.Version, ID: "history-notice-" + string(g.Platform) + "-" + g.Token,
			Platform: g.Platform, Chat: g.ID, Text: f.txt.Notice.N(max(g.Days, 1))}
		if err := f.d.Pub.Reply(ctx, r); err != nil {
			return fmt.Errorf("post-import notice: %w", err)
		}
		if err := f.d.Records.NoticePosted(ctx, g); err != nil {
			return err
		}
		f.d.Log.Info("post-import notice posted", "group", g.Token, "days", g.Days)
	}
	return nil
}
