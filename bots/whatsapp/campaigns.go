package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/relais-bot/relais/events"
)

// errCampaignsHalted puts campaign messages back while campaigns are stopped.
var errCampaignsHalted = errors.New("whatsapp: campaigns halted after a sign of a ban")

// ServeCampaigns sends the campaign messages the bridge queued for WhatsApp until ctx ends:
// one at a time, a few a minute with jitter (Throttle.Campaign, on top of the replies'
// limits), only to people who wrote to the bot first, each recipient at most once (claimed
// in the campaigns bucket just before the send), and not at all for Throttle.CampaignHalt
// after WhatsApp rate-limits or timelocks the number.
func (a *Adapter) ServeCampaigns(ctx context.Context) error {
	dl, err := events.OpenDeliveries(ctx, a.js, a.names, a.log)
	if err != nil {
		return fmt.Errorf("whatsapp: %w", err)
	}
	cfg := events.DurableConfig(a.names.CampaignConsumer(events.WhatsApp), a.names.CampaignFilter(events.WhatsApp))
	settler := events.Settler{Pub: a.pub, Log: a.log, BaseDelay: 20 * time.Second, MaxDelay: 10 * time.Minute}
	return a.serveOneByOne(ctx, "campaigns", a.names.CampaignsStream(), cfg, settler, func(ctx context.Context, rep events.Reply, seq uint64) error {
		err := a.replies.Campaign(ctx, dl, rep, seq)
		a.replies.countCampaignErr(err)
		return err
	})
}

// countCampaignErr counts a campaign message that did not end in an outcome recorded
// elsewhere: put back (halted, throttled, not connected) or refused for good.
func (r *replier) countCampaignErr(err error) {
	switch {
	case err == nil:
	case errors.Is(err, errCampaignsHalted):
		r.recordCampaign("halted")
	case events.IsPermanent(err):
		r.recordCampaign("invalid")
	default:
		r.recordCampaign("retry")
	}
}

func (r *replier) recordCampaign(outcome string) {
	if r.countCampaign != nil {
		r.countCampaign(outcome)
	}
}

// Campaign sends one recipient's campaign message, at most once, and only if the member may
// still be contacted at the moment of sending. Its error follows events.Settler, like
// Handle's.
func (r *replier) Campaign(ctx context.Context, dl *events.Deliveries, rep events.Reply, seq uint64) error {
	if rep.Platform != events.WhatsApp || rep.Campaign == nil {
		return events.Permanent(errors.New("not a whatsapp campaign message"))
	}
	to, err := parseChat(rep.Chat)
	if err != nil {
		return events.Permanent(err)
	}
	if to.Server == types.GroupServer {
		return events.Permanent(errors.New("campaign message addressed to a group"))
	}
	slug, member := rep.Campaign.Slug, rep.Campaign.Member
	if d := r.halted(); d > 0 {
		return events.RetryAfter(errCampaignsHalted, d)
	}
	ok, err := r.known.WroteFirst(ctx, to)
	if err != nil {
		return fmt.Errorf("campaign recipient: %w", err)
	}
	if !ok {
		// The bridge queues only members who wrote privately; a device store reset can
		// forget them. Never write first: recorded as failed, not retried.
		r.refuse(outcomeRefusedUnknown, "whatsapp: campaign message refused: recipient never wrote first")
		r.recordCampaign(events.OutcomeFailed)
		_, err := dl.SettleUnclaimed(ctx, slug, member, seq, events.OutcomeFailed)
		return err
	}
	wait, release := r.reserveCampaign(to)
	if err := r.awaitTurn(ctx, wait, release); err != nil {
		return err
	}
	claim, err := dl.Claim(ctx, slug, member, seq)
	if err != nil {
		release()
		return err
	}
	if claim.Withheld {
		release()
		r.log.Info("whatsapp campaign message withheld: the member may no longer be contacted", "campaign", slug, "member", member)
		r.recordCampaign("withheld")
		return nil
	}
	if !claim.OK {
		release()
		r.log.Debug("whatsapp campaign message already claimed: not sent again", "campaign", slug, "member", member)
		r.recordCampaign("skipped")
		return nil
	}
	// The gate is asked once more right before the request leaves.
	if ok, err := dl.Confirm(ctx, &claim); err != nil || !ok {
		release()
		if err == nil {
			r.log.Info("whatsapp campaign message withheld at the moment of sending", "campaign", slug, "member", member)
			r.recordCampaign("withheld")
		}
		return err
	}
	if err := r.send.SendText(ctx, to, replyMessageID(rep.ID), rep.Text); err != nil {
		r.record(outcomeFailed)
		cerr := classifySendError(err)
		d, retry := events.RetryDelay(cerr)
		switch {
		case retry && d >= 5*time.Minute:
			// Rate-limited or timelocked: the number is at risk. Stop every campaign.
			r.halt()
			r.log.Warn("whatsapp: campaigns halted: WhatsApp rate-limits this number", "for", r.cfg.CampaignHalt)
			if stands, err := dl.Settle(ctx, claim, events.OutcomeRetry); err != nil || !stands {
				return err
			}
			return events.RetryAfter(errCampaignsHalted, r.cfg.CampaignHalt)
		case retry:
			// Not connected: the message did not leave.
			if stands, err := dl.Settle(ctx, claim, events.OutcomeRetry); err != nil || !stands {
				return err
			}
			return cerr
		}
		// Anything else may or may not have reached WhatsApp: at most once, not retried.
		r.log.Warn("whatsapp campaign message failed", "campaign", slug, "member", member, "err", maskDigits(err.Error()))
		r.recordCampaign(events.OutcomeFailed)
		_, err := dl.Settle(ctx, claim, events.OutcomeFailed)
		return err
	}
	r.record(outcomeSent)
	r.recordCampaign(events.OutcomeSent)
	_, err = dl.Settle(ctx, claim, events.OutcomeSent)
	return err
}

// reserveCampaign takes a turn from the campaign limiter as well as the chat's and the
// global ones.
func (r *replier) reserveCampaign(to types.JID) (time.Duration, func()) {
	wait, release := r.reserve(to)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	rc := r.campaign.ReserveN(now, 1)
	return max(wait, rc.DelayFrom(now)), func() {
		release()
		r.mu.Lock()
		defer r.mu.Unlock()
		rc.CancelAt(r.now())
	}
}

func (r *replier) halt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.haltUntil = r.now().Add(r.cfg.CampaignHalt)
}

// halted says how long campaigns stay stopped (0: they are not).
func (r *replier) halted() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(0, r.haltUntil.Sub(r.now()))
}
