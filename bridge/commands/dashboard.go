package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/relais-bot/relais/bridge/commands/command"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// LoginLinker makes one-time login links to the dashboard, bound to an organiser.
type LoginLinker interface {
	LoginLink(ctx context.Context, who scope.Who) (link string, valid time.Duration, err error)
}

// dashboardCommands declares /tableau.
func (h *Handler) dashboardCommands() []command.Spec {
	return []command.Spec{{Key: "tableau", Names: []string{"tableau", "dashboard"}, English: "dashboard",
		Who: command.Organisers, Rate: command.Limited, Arg: events.ArgNone, Listed: true, Background: true,
		Run: h.inScope(func(ctx context.Context, ev events.Event, _ scope.Scope) error { return h.dashboardLink(ctx, ev) })}}
}

// dashboardLink answers /tableau with a one-time login link, always privately: whoever
// holds the link is the organiser until it is used.
func (h *Handler) dashboardLink(ctx context.Context, ev events.Event) error {
	if h.cfg.Dashboard == nil {
		return h.sendPrivately(ctx, ev, h.private(ev, "answer", h.org.DashboardOff))
	}
	link, valid, err := h.cfg.Dashboard.LoginLink(ctx, h.Who(ev.Platform, ev.Sender))
	if err != nil {
		return fmt.Errorf("dashboard link: %w", err)
	}
	// The reply id derives from the event id: a redelivered /tableau makes a second link
	// whose reply is dropped as a duplicate, and that link expires unused.
	r := h.private(ev, "dashboard", h.org.DashboardLink.N(int(valid.Minutes()), link))
	return h.sendPrivately(ctx, ev, r)
}
