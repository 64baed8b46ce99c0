package campaigns

import (
	"context"
	"fmt"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/events"
)

// confirmCampaign queues a draft's recipients. Each step is idempotent, so a retried
// confirmation (a crash half-way, a redelivery of the event that confirmed it) queues the
// rest and nobody twice: the week count remembers the campaign, the queue drops a duplicate
// message id, and the adapters' delivery claims send each recipient at most once. Any other
// press of Envoyer is told the campaign is confirmed already.
func (f *Feature) confirmCampaign(ctx context.Context, req command.Request) (events.Reply, error) {
	ev, organiser := req.Event, req.Member
	t := f.txt
	cp, rev, named, ok, err := f.ownCampaign(ctx, ev, organiser)
	if err != nil {
		return events.Reply{}, err
	}
	if !ok {
		return f.notFound(ev, "send", named), nil
	}
	slug := cp.Slug
	switch cp.State {
	case stateCancelled:
		return f.d.Replies.Private(ev, "send", fmt.Sprintf(t.AlreadyDone, slug, f.stateName(cp.State))), nil
	case stateConfirmed, stateQueued:
		// A campaign confirmed before ConfirmedBy existed, and not fully queued, is let
		// through as before: its own redelivery is what would finish it.
		legacy := cp.ConfirmedBy == "" && cp.State == stateConfirmed
		if cp.ConfirmedBy != ev.ID && !legacy {
			return f.d.Replies.Private(ev, "send", fmt.Sprintf(t.AlreadyConfirmed, slug)), nil
		}
		if cp.State == stateQueued {
			return f.queuedReply(ev, slug, cp.Queued), nil // queued, but the answer was lost
		}
	}
	// Checked before anything changes: a refused confirmation leaves the draft as it was,
	// and a confirmed campaign's redelivery queues nobody from a partial audience.
	allowed, sc, err := f.allowedGroups(ctx, ev)
	if err != nil {
		return events.Reply{}, err
	}
	if audienceIncomplete(cp, sc) {
		f.d.Log.Warn("campaign not confirmed: scope incomplete", "campaign", slug, "unchecked", len(sc.Missing()))
		return f.d.Replies.Private(ev, "send", fmt.Sprintf(t.Incomplete, slug, f.d.Scopes.UncheckedTitles(sc))), nil
	}
	if cp.State == stateDraft {
		cp.State, cp.Confirmed, cp.ConfirmedBy = stateConfirmed, f.d.Now().UTC(), ev.ID
		if err := f.st.save(ctx, cp, rev); err != nil {
			return events.Reply{}, err // a concurrent confirmation: the retry finds it confirmed
		}
		f.st.metrics.campaigns.WithLabelValues(stateConfirmed).Inc()
	}
	// Before anything is queued, so every outcome of this campaign is counted.
	if err := events.StartCounts(ctx, f.st.kv, slug); err != nil {
		return events.Reply{}, err
	}
	queued, err := f.queueRecipients(ctx, cp, allowed)
	if err != nil {
		return events.Reply{}, err
	}
	for range 5 {
		cur, rev, _, err := f.st.load(ctx, slug)
		if err != nil {
			return events.Reply{}, err
		}
		if cur.State == stateQueued {
			break
		}
		cur.State, cur.Queued = stateQueued, queued
		if err = f.st.save(ctx, cur, rev); err == nil {
			break
		}
	}
	f.d.Log.Info("campaign queued", "campaign", slug, "recipients", queued)
	return f.queuedReply(ev, slug, queued), nil
}

func (f *Feature) queuedReply(ev events.Event, slug string, queued int) events.Reply {
	if queued == 0 {
		return f.d.Replies.Private(ev, "send", fmt.Sprintf(f.txt.NothingToSend, slug))
	}
	return f.d.Replies.Private(ev, "send", f.txt.Queued.N(queued, slug))
}

// queueRecipients queues the campaign to every member of its audience the gate and the
// weekly cap let through, and says how many that is.
func (f *Feature) queueRecipients(ctx context.Context, cp campaign, allowed []string) (int, error) {
	cands, err := f.audience(ctx, cp, allowed)
	if err != nil {
		return 0, err
	}
	queued := 0
	for _, c := range cands {
		if c.Reach != bridge.ReachNow {
			f.st.metrics.recipients.WithLabelValues(reachLabel(c.Reach)).Inc()
			continue
		}
		member := f.d.Consent.Canonical(c.Token)
		// The audience was read before; an objection handled since (commands run off the
		// batch loop) has marked the member.
		if dnc, err := events.DoNotContact(ctx, f.st.kv, member); err != nil || dnc != "" {
			if err != nil {
				return 0, err
			}
			f.st.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachObjected)).Inc()
			continue
		}
		ok, err := f.st.countWeek(ctx, member, cp.Slug, f.d.Now())
		if err != nil {
			return 0, err
		}
		if !ok {
			f.st.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachCapped)).Inc()
			continue
		}
		r := events.Reply{V: events.Version, Platform: c.Platform, Chat: c.PlatformID, Private: true,
			Text: f.memberText(cp, c.Platform), Buttons: f.memberButtons(cp, c.Platform),
			Campaign: &events.CampaignTarget{Slug: cp.Slug, Member: member}}
		if _, err := f.st.kv.Put(ctx, events.LastCampaignKey(member), []byte(cp.Slug)); err != nil {
			return 0, fmt.Errorf("campaigns: %w", err)
		}
		if err := f.d.Queue.QueueCampaign(ctx, r); err != nil {
			return 0, err
		}
		queued++
		if err := f.withdrawIfMarked(ctx, member); err != nil {
			return 0, err
		}
		f.st.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachNow)).Inc()
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

func (f *Feature) cancelCampaign(ctx context.Context, req command.Request) (events.Reply, error) {
	ev, organiser := req.Event, req.Member
	t := f.txt
	cp, rev, named, ok, err := f.ownCampaign(ctx, ev, organiser)
	if err != nil {
		return events.Reply{}, err
	}
	if !ok {
		return f.notFound(ev, "cancel", named), nil
	}
	slug := cp.Slug
	if cp.State != stateDraft {
		return f.d.Replies.Private(ev, "cancel", fmt.Sprintf(t.AlreadyDone, slug, f.stateName(cp.State))), nil
	}
	cp.State = stateCancelled
	if err := f.st.save(ctx, cp, rev); err != nil {
		return events.Reply{}, err
	}
	f.st.metrics.campaigns.WithLabelValues(stateCancelled).Inc()
	return f.d.Replies.Private(ev, "cancel", fmt.Sprintf(t.Cancelled, slug)), nil
}
