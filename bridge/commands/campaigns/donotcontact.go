package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// markDoNotContact tells the adapters, before anything else is done about the member, that
// no campaign message may reach them any more: a message already queued or already in an
// adapter's hands is withheld at the moment of sending (see events.Deliveries). It marks
// every token of the person and the one campaigns are addressed to.
func (h *Handler) markDoNotContact(ctx context.Context, tokens []string, reason string) error {
	if h.camp == nil {
		return nil
	}
	for _, tok := range h.campaignTokens(tokens) {
		if err := events.MarkDoNotContact(ctx, h.camp.kv, tok, reason); err != nil {
			return fmt.Errorf("campaigns: %w", err)
		}
	}
	return nil
}

// clearDoNotContact lifts the marker of a member who says yes again without having kept
// "Ne plus me solliciter".
func (h *Handler) clearDoNotContact(ctx context.Context, member string) error {
	if h.camp == nil {
		return nil
	}
	for _, tok := range h.campaignTokens([]string{member}) {
		if err := events.ClearDoNotContact(ctx, h.js, h.names.CampaignsBucket(), tok); err != nil {
			return fmt.Errorf("campaigns: %w", err)
		}
	}
	return nil
}

// withdrawIfMarked undoes what a confirmation just wrote about a member marked meanwhile:
// an objection or erasure handled between the check and the writes has run its clean-up
// already, so it is run again; after "Ne plus me solliciter" the message is purged.
func (h *Handler) withdrawIfMarked(ctx context.Context, member string) error {
	dnc, err := events.DoNotContact(ctx, h.camp.kv, member)
	if err != nil || dnc == "" {
		return err
	}
	if events.ForgetsRecords(dnc) {
		return h.forgetCampaigns(ctx, member)
	}
	return h.withdrawQueued(ctx, member)
}

// withdrawQueued purges a member's queued campaign messages and counts those not sent yet
// withdrawn, keeping their delivery records and answers: what "Ne plus me solliciter" does
// to the campaigns already queued for them.
func (h *Handler) withdrawQueued(ctx context.Context, member string) error {
	_, outcomes, err := h.memberDeliveries(ctx, member)
	if err != nil {
		return err
	}
	withdrawn, err := h.purgeQueued(ctx, member, outcomes)
	if err != nil {
		return err
	}
	h.countWithdrawn(ctx, withdrawn)
	return nil
}

// campaignTokens are the tokens and their canonical ones: a campaign message names the
// canonical token of its recipient.
func (h *Handler) campaignTokens(tokens []string) []string {
	out := slices.Clone(tokens)
	for _, tok := range tokens {
		if c := h.consent.Canonical(tok); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// purgeQueued securely deletes a member's queued campaign messages (each holds their chat
// id and the text sent to them) and returns the campaigns of those that had no final
// outcome yet among outcomes (the member's delivery records, by campaign): recipients the
// reports must count withdrawn.
func (h *Handler) purgeQueued(ctx context.Context, member string, outcomes map[string]string) ([]string, error) {
	s, err := h.js.Stream(ctx, h.names.CampaignsStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("campaigns: %w", err)
	}
	var withdrawn []string
	for _, p := range []events.Platform{events.Telegram, events.WhatsApp} {
		for range 100 { // a member has one message per campaign queued at most
			m, err := s.GetLastMsgForSubject(ctx, h.names.CampaignSubject(p, member))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("campaigns: queued message: %w", err)
			}
			if r, err := events.DecodeReply(m.Data); err == nil && r.Campaign != nil {
				switch outcomes[r.Campaign.Slug] {
				case "", events.OutcomeRetry, events.OutcomeSending:
					withdrawn = append(withdrawn, r.Campaign.Slug)
				}
			}
			if err := events.SecureDeleteSeq(ctx, s, m.Sequence); err != nil {
				return nil, fmt.Errorf("campaigns: queued message: %w", err)
			}
		}
	}
	return withdrawn, nil
}

// erasedPlatformID is the platform id to erase a token of the sender by: the sender's id or
// the event's alias when it is that token's, else the id the member's state or the event
// log holds for it. "" when nothing names the token any more: then only what the token
// itself selects is erased.
func (h *Handler) erasedPlatformID(ctx context.Context, ev events.Event, tok string, stored string) (string, error) {
	// Each candidate must hash to the token: erasing by another person's id would strip
	// their references from everyone's events, and erasing a token by the wrong id of the
	// same person would leave the right one's references behind.
	for _, id := range []string{ev.Sender.ID, ev.Sender.Alias, stored} {
		if id != "" && h.hash.Member(ev.Platform, id) == tok {
			return id, nil
		}
	}
	id, err := events.LoggedPlatformID(ctx, h.js, h.names, tok)
	if err != nil || id == "" || h.hash.Member(ev.Platform, id) != tok {
		return "", err
	}
	return id, nil
}
