package commands

import (
	"context"
	"fmt"
	"slices"

	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

const (
	answerRelay  = "relay"
	answerNotNow = "not_now"
	answerNoMore = "no_more"
)

// answer records a member's answer to a campaign they received.
func (h *Handler) answer(ctx context.Context, ev events.Event, member, ans string) error {
	if h.camp == nil {
		return h.send(ctx, h.private(ev, "campaign", h.camp0().Disabled))
	}
	t := h.camp.txt
	main := h.consent.Canonical(member)
	slug, err := h.slugOr(ctx, ev, events.LastCampaignKey(main))
	if err != nil {
		return err
	}
	received := false
	if slug != "" {
		v, _, err := h.camp.get(ctx, events.DeliveryKey(slug, main))
		if err != nil {
			return err
		}
		received = v != ""
	}
	if !received {
		return h.send(ctx, h.private(ev, "answer", t.NoCampaign))
	}
	thanks := map[string]string{answerRelay: t.ThanksRelay, answerNotNow: t.ThanksNotNow, answerNoMore: t.ThanksNoMore}[ans]
	prev, _, err := h.camp.get(ctx, events.AnswerKey(slug, main))
	if err != nil {
		return err
	}
	if prev != ans {
		if _, err := h.camp.kv.Put(ctx, events.AnswerKey(slug, main), []byte(ans)); err != nil {
			return fmt.Errorf("campaigns: answer: %w", err)
		}
		h.camp.metrics.answers.WithLabelValues(ans).Inc()
		// Counted apart from the answer record, which the member's /stop or /oubli deletes.
		if err := events.CountAnswer(ctx, h.camp.kv, slug, prev, ans); err != nil {
			h.log.Warn("campaign answer not counted", "campaign", slug, "err", err)
		}
	}
	if err := h.recordAnswer(ctx, main, slug, ans); err != nil {
		return err
	}
	h.log.Info("campaign answered", "campaign", slug, "answer", ans)
	return h.send(ctx, h.private(ev, "answer-"+ans, thanks))
}

// recordAnswer keeps what the consent record must know: "Je relaie" (a campaign tag on the
// contact) and "Ne plus me solliciter" (no more campaigns). Only a member who said yes has
// a record to keep them in.
func (h *Handler) recordAnswer(ctx context.Context, member, slug, ans string) error {
	if ans == answerNotNow {
		return nil
	}
	rec, found, err := h.consent.Get(ctx, member)
	if err != nil {
		return err
	}
	if !found || rec.Status != consent.StatusYes {
		return nil
	}
	switch ans {
	case answerRelay:
		if slices.Contains(rec.Relayed, slug) {
			return h.members.Resync(ctx, member)
		}
		rec.Relayed = append(rec.Relayed, slug)
		if len(rec.Relayed) > maxRelayed {
			rec.Relayed = rec.Relayed[len(rec.Relayed)-maxRelayed:]
		}
	case answerNoMore:
		// The marker first: this member's messages of other campaigns, queued or already
		// pulled by an adapter, are withheld.
		if err := h.markDoNotContact(ctx, []string{member}, events.DoNotContactNoMore); err != nil {
			return err
		}
		for _, tok := range h.campaignTokens([]string{member}) {
			if err := h.withdrawQueued(ctx, tok); err != nil {
				return err
			}
		}
		if rec.NoCampaigns {
			return nil
		}
		rec.NoCampaigns = true
	}
	if err := h.consent.Set(ctx, member, rec); err != nil {
		return err
	}
	if err := h.members.Resync(ctx, member); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}

// maxRelayed bounds the campaign tags one contact carries.
const maxRelayed = 50

// noteReachable records that a member wrote to the bot privately: the platform now lets
// relais write to them (Telegram: they opened the chat; WhatsApp: they wrote first).
func (h *Handler) noteReachable(ctx context.Context, ev events.Event, member string) error {
	if h.camp == nil || ev.Group != nil {
		return nil
	}
	key := events.ReachKey(h.consent.Canonical(member))
	v, _, err := h.camp.get(ctx, key)
	if err != nil || v == events.ReachOpen {
		return err
	}
	if _, err := h.camp.kv.Put(ctx, key, []byte(events.ReachOpen)); err != nil {
		return fmt.Errorf("campaigns: reach: %w", err)
	}
	return nil
}
