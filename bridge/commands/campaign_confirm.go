package commands

import (
	"context"
	"fmt"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
)

// confirmCampaign queues a draft's recipients. Each step is idempotent, so a retried
// confirmation (a crash half-way, a redelivery of the event that confirmed it) queues the
// rest and nobody twice: the week count remembers the campaign, the queue drops a duplicate
// message id, and the adapters' delivery claims send each recipient at most once. Any other
// press of Envoyer is told the campaign is confirmed already.
func (h *Handler) confirmCampaign(ctx context.Context, ev events.Event, organiser string) (events.Reply, error) {
	t := h.camp.txt
	cp, rev, named, ok, err := h.ownCampaign(ctx, ev, organiser)
	if err != nil {
		return events.Reply{}, err
	}
	if !ok {
		return h.notFound(ev, "send", named), nil
	}
	slug := cp.Slug
	switch cp.State {
	case stateCancelled:
		return h.private(ev, "send", fmt.Sprintf(t.AlreadyDone, slug, h.stateName(cp.State))), nil
	case stateConfirmed, stateQueued:
		// A campaign confirmed before ConfirmedBy existed, and not fully queued, is let
		// through as before: its own redelivery is what would finish it.
		legacy := cp.ConfirmedBy == "" && cp.State == stateConfirmed
		if cp.ConfirmedBy != ev.ID && !legacy {
			return h.private(ev, "send", fmt.Sprintf(t.AlreadyConfirmed, slug)), nil
		}
		if cp.State == stateQueued {
			return h.queuedReply(ev, slug, cp.Queued), nil // queued, but the answer was lost
		}
	}
	// Checked before anything changes: a refused confirmation leaves the draft as it was,
	// and a confirmed campaign's redelivery queues nobody from a partial audience.
	allowed, sc, err := h.allowedGroups(ctx, ev)
	if err != nil {
		return events.Reply{}, err
	}
	if audienceIncomplete(cp, sc) {
		h.log.Warn("campaign not confirmed: scope incomplete", "campaign", slug, "unchecked", len(sc.Missing()))
		return h.private(ev, "send", fmt.Sprintf(t.Incomplete, slug, listTitles(h.missingNames(sc)))), nil
	}
	if cp.State == stateDraft {
		cp.State, cp.Confirmed, cp.ConfirmedBy = stateConfirmed, h.cfg.Now().UTC(), ev.ID
		if err := h.camp.save(ctx, cp, rev); err != nil {
			return events.Reply{}, err // a concurrent confirmation: the retry finds it confirmed
		}
		h.camp.metrics.campaigns.WithLabelValues(stateConfirmed).Inc()
	}
	// Before anything is queued, so every outcome of this campaign is counted.
	if err := events.StartCounts(ctx, h.camp.kv, slug); err != nil {
		return events.Reply{}, err
	}
	queued, err := h.queueRecipients(ctx, cp, allowed)
	if err != nil {
		return events.Reply{}, err
	}
	for range 5 {
		cur, rev, _, err := h.camp.load(ctx, slug)
		if err != nil {
			return events.Reply{}, err
		}
		if cur.State == stateQueued {
			break
		}
		cur.State, cur.Queued = stateQueued, queued
		if err = h.camp.save(ctx, cur, rev); err == nil {
			break
		}
	}
	h.log.Info("campaign queued", "campaign", slug, "recipients", queued)
	return h.queuedReply(ev, slug, queued), nil
}

func (h *Handler) queuedReply(ev events.Event, slug string, queued int) events.Reply {
	if queued == 0 {
		return h.private(ev, "send", fmt.Sprintf(h.camp.txt.NothingToSend, slug))
	}
	return h.private(ev, "send", h.camp.txt.Queued.N(queued, slug))
}

// queueRecipients queues the campaign to every member of its audience the gate and the
// weekly cap let through, and says how many that is.
func (h *Handler) queueRecipients(ctx context.Context, cp campaign, allowed []string) (int, error) {
	cands, err := h.audience(ctx, cp, allowed)
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, c := range cands {
		if c.Reach != bridge.ReachNow {
			h.camp.metrics.recipients.WithLabelValues(reachLabel(c.Reach)).Inc()
			continue
		}
		member := h.consent.Canonical(c.Token)
		// The audience was read before; an objection handled since (commands run off the
		// batch loop) has marked the member.
		if dnc, err := events.DoNotContact(ctx, h.camp.kv, member); err != nil || dnc != "" {
			if err != nil {
				return 0, err
			}
			h.camp.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachObjected)).Inc()
			continue
		}
		ok, err := h.camp.countWeek(ctx, member, cp.Slug, h.cfg.Now())
		if err != nil {
			return 0, err
		}
		if !ok {
			h.camp.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachCapped)).Inc()
			continue
		}
		r := events.Reply{V: events.Version, Platform: c.Platform, Chat: c.PlatformID, Private: true,
			Text: h.memberText(cp, c.Platform), Buttons: h.memberButtons(cp, c.Platform),
			Campaign: &events.CampaignTarget{Slug: cp.Slug, Member: member}}
		if _, err := h.camp.kv.Put(ctx, events.LastCampaignKey(member), []byte(cp.Slug)); err != nil {
			return 0, fmt.Errorf("campaigns: %w", err)
		}
		if err := h.pub.QueueCampaign(ctx, r); err != nil {
			return 0, err
		}
		queued++
		if err := h.withdrawIfMarked(ctx, member); err != nil {
			return 0, err
		}
		h.camp.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachNow)).Inc()
	}
	return queued, nil
}

func reachLabel(r bridge.Reach) string {
	switch r {
	case bridge.ReachNow:
		return "queued"
	case bridge.ReachUnreachable:
		return "unreachable"
	case bridge.ReachNotConsented:
		return "not_consented"
	case bridge.ReachObjected:
		return "objected"
	case bridge.ReachOptedOut:
		return "opted_out"
	}
	return "capped"
}

func (h *Handler) cancelCampaign(ctx context.Context, ev events.Event, organiser string) (events.Reply, error) {
	t := h.camp.txt
	cp, rev, named, ok, err := h.ownCampaign(ctx, ev, organiser)
	if err != nil {
		return events.Reply{}, err
	}
	if !ok {
		return h.notFound(ev, "cancel", named), nil
	}
	slug := cp.Slug
	if cp.State != stateDraft {
		return h.private(ev, "cancel", fmt.Sprintf(t.AlreadyDone, slug, h.stateName(cp.State))), nil
	}
	cp.State = stateCancelled
	if err := h.camp.save(ctx, cp, rev); err != nil {
		return events.Reply{}, err
	}
	h.camp.metrics.campaigns.WithLabelValues(stateCancelled).Inc()
	return h.private(ev, "cancel", fmt.Sprintf(t.Cancelled, slug)), nil
}
