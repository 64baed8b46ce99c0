package campaigns

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// MarkDoNotContact tells the adapters, before anything else is done about the member, that
// no campaign message may reach them any more: a message already queued or already in an
// adapter's hands is withheld at the moment of sending (see events.Deliveries). It marks
// every token of the person and the one campaigns are addressed to.
func (f *Feature) MarkDoNotContact(ctx context.Context, tokens []string, reason string) error {
	if f.st == nil {
		return nil
	}
	for _, tok := range f.campaignTokens(tokens) {
		if err := events.MarkDoNotContact(ctx, f.st.kv, tok, reason); err != nil {
			return fmt.Errorf("campaigns: %w", err)
		}
	}
	return nil
}

// ClearDoNotContact lifts the marker of a member who says yes again without having kept
// "Ne plus me solliciter".
func (f *Feature) ClearDoNotContact(ctx context.Context, member string) error {
	if f.st == nil {
		return nil
	}
	for _, tok := range f.campaignTokens([]string{member}) {
		if err := events.ClearDoNotContact(ctx, f.d.JS, f.d.Names.CampaignsBucket(), tok); err != nil {
			return fmt.Errorf("campaigns: %w", err)
		}
	}
	return nil
}

// withdrawIfMarked undoes what a confirmation just wrote about a member marked meanwhile:
// an objection or erasure handled between the check and the writes has run its clean-up
// already, so it is run again; after "Ne plus me solliciter" the message is purged.
func (f *Feature) withdrawIfMarked(ctx context.Context, member string) error {
	dnc, err := events.DoNotContact(ctx, f.st.kv, member)
	if err != nil || dnc == "" {
		return err
	}
	if events.ForgetsRecords(dnc) {
		return f.forgetCampaigns(ctx, member)
	}
	return f.withdrawQueued(ctx, member)
}

// withdrawQueued purges a member's queued campaign messages and counts those not sent yet
// withdrawn, keeping their delivery records and answers: what "Ne plus me solliciter" does
// to the campaigns already queued for them.
func (f *Feature) withdrawQueued(ctx context.Context, member string) error {
	_, outcomes, err := f.memberDeliveries(ctx, member)
	if err != nil {
		return err
	}
	withdrawn, err := f.purgeQueued(ctx, member, outcomes)
	if err != nil {
		return err
	}
	f.countWithdrawn(ctx, withdrawn)
	return nil
}

// campaignTokens are the tokens and their canonical ones: a campaign message names the
// canonical token of its recipient.
func (f *Feature) campaignTokens(tokens []string) []string {
	out := slices.Clone(tokens)
	for _, tok := range tokens {
		if c := f.d.Consent.Canonical(tok); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// purgeQueued securely deletes a member's queued campaign messages (each holds their chat
// id and the text sent to them) and returns the campaigns of those that had no final
// outcome yet among outcomes (the member's delivery records, by campaign): recipients the
// reports must count withdrawn.
func (f *Feature) purgeQueued(ctx context.Context, member string, outcomes map[string]string) ([]string, error) {
	s, err := f.d.JS.Stream(ctx, f.d.Names.CampaignsStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("campaigns: %w", err)
	}
	var withdrawn []string
	for _, p := range []events.Platform{events.Telegram, events.WhatsApp} {
		for range 100 { // a member has one message per campaign queued at most
			m, err := s.GetLastMsgForSubject(ctx, f.d.Names.CampaignSubject(p, member))
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
