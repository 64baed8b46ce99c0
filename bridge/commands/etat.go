package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/health"
)

// /etat (/status): one private screen for admins on what relais can see — each platform's
// state, each group's last event and what relais receives there, the CRM queue and its last
// error, the incidents open (health.RenderEtat writes it).

// EtatSource is what /etat asks beyond the bridge's groups and the CRM worker: what the
// process knows of the platforms and the health monitor.
type EtatSource interface {
	// Platforms are the platforms this deployment runs, with their state.
	Platforms(ctx context.Context) []health.PlatformState
	// Sight is what relais receives in a group (its token) of platform p; known is false
	// when this process cannot tell (the platform is served by another replica).
	Sight(p events.Platform, group string) (s Sight, known bool)
	// Incidents are the incidents open, oldest first.
	Incidents() []health.Incident
}

// Sight is what relais receives in a group.
type Sight struct{ Messages, Reactions, Members bool }

// GroupActivity gives each group's event times by token (bridge.Query.GroupActivity).
type GroupActivity interface {
	GroupActivity(ctx context.Context) (map[string][]time.Time, error)
}

// etatDeps are /etat's sources, set by EnableEtat.
type etatDeps struct {
	src      EtatSource
	activity GroupActivity
}

// EnableEtat gives /etat its sources; without them it shows the groups and the CRM only.
func (h *Handler) EnableEtat(src EtatSource, activity GroupActivity) {
	h.etat = etatDeps{src: src, activity: activity}
}

// etatCommands declares /etat.
func (h *Handler) etatCommands() []command.Spec {
	return []command.Spec{
		{Key: "etat", Names: []string{"etat", "status"}, English: "status", Who: command.Admins, Rate: command.Limited,
			Arg: events.ArgNone, Listed: true, Background: true,
			Run: func(ctx context.Context, r command.Request) error {
				snap, err := h.EtatSnapshot(ctx)
				if err != nil {
					return err
				}
				return h.sendPrivately(ctx, r.Event, h.private(r.Event, "answer", clip(health.RenderEtat(snap, h.cat.Lang))))
			}},
	}
}

// EtatSnapshot gathers what /etat shows.
func (h *Handler) EtatSnapshot(ctx context.Context) (health.Snapshot, error) {
	snap := health.Snapshot{At: h.cfg.Now()}
	if h.etat.src != nil {
		snap.Platforms = h.etat.src.Platforms(ctx)
		snap.Incidents = h.etat.src.Incidents()
	}
	groups, err := h.query.Groups(ctx)
	if err != nil {
		return snap, fmt.Errorf("etat: %w", err)
	}
	var last map[string][]time.Time
	if h.etat.activity != nil {
		if last, err = h.etat.activity.GroupActivity(ctx); err != nil {
			return snap, fmt.Errorf("etat: %w", err)
		}
	}
	down := map[string]bool{}
	for _, p := range snap.Platforms {
		down[p.Name] = !p.OK
	}
	open := map[string]health.Kind{}
	titles := map[string]string{}
	for _, in := range snap.Incidents {
		open[in.Subject] = in.Kind
	}
	for _, g := range groups {
		titles[g.Token] = g.Title
		st := health.GroupState{Label: g.Title, Platform: platformName(g.Platform)}
		if ts := last[g.Token]; len(ts) > 0 {
			st.LastEvent = ts[len(ts)-1]
		}
		s := h.sight(g, down[st.Platform], open[g.Token])
		st.Messages, st.Reactions, st.Members = s.Messages, s.Reactions, s.Members
		snap.Groups = append(snap.Groups, st)
	}
	// An incident about a group names it here: /etat is an admin's, in private.
	for i, in := range snap.Incidents {
		if title, ok := titles[in.Subject]; ok && title != "" {
			if in.Detail != "" {
				title += ", " + in.Detail
			}
			snap.Incidents[i].Detail = title
		}
	}
	if h.sync != nil {
		info, err := h.sync.SyncInfo(ctx)
		if err != nil {
			return snap, fmt.Errorf("etat: %w", err)
		}
		snap.CRM = health.CRMState{Configured: true, Pending: uint64(max(info.Pending, 0)), LastError: info.LastError,
			LastErrorAt: info.LastErrorAt, LastSuccess: info.LastSuccessAt}
	}
	return snap, nil
}

// sight is what relais receives in g: nothing while its platform is down or the bot was
// removed, no messages while it cannot read them; otherwise what the platform's adapter
// says, or by default what the platform gives a bot in a group (WhatsApp's linked device
// sees all; a Telegram bot not known to be admin sees messages only).
func (h *Handler) sight(g GroupStats, platformDown bool, incident health.Kind) Sight {
	var s Sight
	known := false
	if h.etat.src != nil {
		s, known = h.etat.src.Sight(g.Platform, g.Token)
	}
	if !known {
		s = Sight{Messages: true, Reactions: g.Platform == events.WhatsApp, Members: g.Platform == events.WhatsApp}
	}
	switch {
	case platformDown, incident == health.TelegramGroupRemoved:
		return Sight{}
	case incident == health.TelegramGroupBlind:
		s.Messages = false
	}
	return s
}
