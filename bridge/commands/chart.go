package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/relais-bot/relais/bridge/chart"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/locale"
)

// ChartSource gives the series /stats charts: *bridge.Query has them.
type ChartSource interface {
	GroupDays(ctx context.Context, group string, n int) ([]int, error)
	GroupWeeklyActive(ctx context.Context, group string, weeks int) ([]int, error)
}

// sendChart sends, privately, a PNG of the groups' messages per day over the window and
// members active per week (summed over the groups when /stats listed several). A chart
// that cannot be drawn is logged and left out: the text answer went already.
func (h *Handler) sendChart(ctx context.Context, ev events.Event, groups []GroupStats) error {
	src, ok := h.query.(ChartSource)
	if !ok {
		return nil
	}
	days, weeks := h.cfg.WindowDays, max(1, (h.cfg.WindowDays+6)/7)
	perDay, perWeek := make([]int, days), make([]int, weeks)
	for _, g := range groups {
		d, err := src.GroupDays(ctx, g.Token, days)
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		w, err := src.GroupWeeklyActive(ctx, g.Token, weeks)
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		for i := range min(len(d), days) {
			perDay[i] += d[i]
		}
		for i := range min(len(w), weeks) {
			perWeek[i] += w[i]
		}
	}
	title := strings.TrimSpace(strings.TrimPrefix(h.cat.StatsAll, "📊")) // the chart font has no emoji
	if len(groups) == 1 {
		title = groups[0].Title
	}
	labels := chart.Labels{Title: title}
	if err := locale.Fill(h.cat.Lang, "chart", &labels); err != nil {
		h.log.Warn("stats chart not drawn", "err", err.Error())
		return nil
	}
	png, err := chart.Stats(labels, perDay, perWeek)
	if err != nil {
		h.log.Warn("stats chart not drawn", "err", err.Error())
		return nil
	}
	r := h.private(ev, "chart", clipRunes(h.org.ChartCaption.N(days, title), events.MaxCaptionRunes))
	r.Photo = png
	r.FallbackChat, r.FallbackText = "", "" // the text answer's fallback said it already
	return h.send(ctx, r)
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
