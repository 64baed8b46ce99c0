package campaigns

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
func (f *Feature) answer(ctx context.Context, ev events.Event, member, ans string) error {
	if f.st == nil {
		return f.d.Replies.Send(ctx, f.d.Replies.Private(ev, "campaign", f.txt.Disabled))
	}
	t := f.txt
	main := f.d.Consent.Canonical(member)
	slug, err := f.slugOr(ctx, ev, events.LastCampaignKey(main))
	if err != nil {
		return err
	}
	received := false
	if slug != "" {
		v, _, err := f.st.get(ctx, events.DeliveryKey(slug, main))
		if err != nil {
			return err
		}
		received = v != ""
	}
	if !received {
		return f.d.Replies.Send(ctx, f.d.Replies.Private(ev, "answer", t.NoCampaign))
	}
	thanks := map[string]string{answerRelay: t.ThanksRelay, answerNotNow: t.ThanksNotNow, answerNoMore: t.ThanksNoMore}[ans]
	prev, _, err := f.st.get(ctx, events.AnswerKey(slug, main))
	if err != nil {
		return err
	}
	if prev != ans {
		if _, err := f.st.kv.Put(ctx, events.AnswerKey(slug, main), []byte(ans)); err != nil {
			return fmt.Errorf("campaigns: answer: %w", err)
		}
		f.st.metrics.answers.WithLabelValues(ans).Inc()
		// Counted apart from the answer record, which the member's /stop or /oubli deletes.
		if err := events.CountAnswer(ctx, f.st.kv, slug, prev, ans); err != nil {
			f.d.Log.Warn("campaign answer not counted", "campaign", slug, "err", err)
		}
	}
	if err := f.recordAnswer(ctx, main, slug, ans); err != nil {
		return err
	}
	f.d.Log.Info("campaign answered", "campaign", slug, "answer", ans)
	return f.d.Replies.Send(ctx, f.d.Replies.Private(ev, "answer-"+ans, thanks))
}

// recordAnswer keeps what the consent record must know: "Je relaie" (a campaign tag on the
// contact) and "Ne plus me solliciter" (no more campaigns). Only a member who said yes has
// a record to keep them in.
func (f *Feature) recordAnswer(ctx context.Context, member, slug, ans string) error {
	if ans == answerNotNow {
		return nil
	}
	rec, found, err := f.d.Consent.Get(ctx, member)
	if err != nil {
		return err
	}
	if !found || rec.Status != consent.StatusYes {
		return nil
	}
	switch ans {
	case answerRelay:
		if slices.Contains(rec.Relayed, slug) {
			return f.d.Members.Resync(ctx, member)
		}
		rec.Relayed = append(rec.Relayed, slug)
		if len(rec.Relayed) > maxRelayed {
			rec.Relayed = rec.Relayed[len(rec.Relayed)-maxRelayed:]
		}
	case answerNoMore:
		// The marker first: this member's messages of other campaigns, queued or already
		// pulled by an adapter, are withheld.
		if err := f.MarkDoNotContact(ctx, []string{member}, events.DoNotContactNoMore); err != nil {
			return err
		}
		for _, tok := range f.campaignTokens([]string{member}) {
			if err := f.withdrawQueued(ctx, tok); err != nil {
				return err
			}
		}
		if rec.NoCampaigns {
			return nil
		}
		rec.NoCampaigns = true
	}
	if err := f.d.Consent.Set(ctx, member, rec); err != nil {
		return err
	}
	if err := f.d.Members.Resync(ctx, member); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}

// maxRelayed bounds the campaign tags one contact carries.
const maxRelayed = 50

// NoteReachable records that a member wrote to the bot privately: the platform now lets
// relais write to them (Telegram: they opened the chat; WhatsApp: they wrote first).
func (f *Feature) NoteReachable(ctx context.Context, ev events.Event, member string) error {
	if f.st == nil || ev.Group != nil {
		return nil
	}
	key := events.ReachKey(f.d.Consent.Canonical(member))
	v, _, err := f.st.get(ctx, key)
	if err != nil || v == events.ReachOpen {
		return err
	}
	if _, err := f.st.kv.Put(ctx, key, []byte(events.ReachOpen)); err != nil {
		return fmt.Errorf("campaigns: reach: %w", err)
	}
	return nil
}
