package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// forgetCampaigns deletes what campaigns hold about a member who objected or asked for
// erasure: queued messages, reachability, week count, answers and delivery records. A
// recipient whose message had no final outcome yet (still queued, released for a retry, or
// claimed by an adapter that died) is counted withdrawn first, in the campaign's anonymous
// counters, so its report still adds up once their records are gone. (A recipient an
// adapter is sending to at this very moment is counted withdrawn, then sent: the report then
// shows one queued too few, never a queue that does not drain.)
func (h *Handler) forgetCampaigns(ctx context.Context, member string) error {
	if h.camp == nil {
		return nil
	}
	deliveries, outcomes, err := h.memberDeliveries(ctx, member)
	if err != nil {
		return err
	}
	withdrawn := map[string]bool{}
	for slug, v := range outcomes {
		if v == events.OutcomeSending {
			withdrawn[slug] = true
		}
	}
	purged, err := h.purgeQueued(ctx, member, outcomes)
	if err != nil {
		return err
	}
	for _, slug := range purged {
		withdrawn[slug] = true
	}
	h.countWithdrawn(ctx, slices.Collect(maps.Keys(withdrawn)))
	keys := events.MemberCampaignKeys(member)
	for k := range deliveries {
		keys = append(keys, k)
	}
	answers, err := h.camp.scan(ctx, "a.*."+member)
	if err != nil {
		return err
	}
	for k := range answers {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := events.SecureDeleteKey(ctx, h.js, h.names.CampaignsBucket(), k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("campaigns: forget: %w", err)
		}
	}
	return nil
}

// forgetCampaignsOf forgets campaigns about every token of a person and the canonical ones
// their campaign messages are addressed to, as the marker covers them (markDoNotContact).
func (h *Handler) forgetCampaignsOf(ctx context.Context, tokens []string) error {
	for _, tok := range h.campaignTokens(tokens) {
		if err := h.forgetCampaigns(ctx, tok); err != nil {
			return err
		}
	}
	return nil
}

// countWithdrawn counts, in each campaign's anonymous counters, one recipient whose message
// will never be sent.
func (h *Handler) countWithdrawn(ctx context.Context, slugs []string) {
	for _, slug := range slugs {
		events.CountSettled(ctx, h.camp.kv, h.log, slug, events.CountWithdrawn)
	}
}

// memberDeliveries reads a member's delivery records: by key, and their outcomes by campaign.
func (h *Handler) memberDeliveries(ctx context.Context, member string) (map[string]string, map[string]string, error) {
	deliveries, err := h.camp.scan(ctx, "d.*."+member)
	if err != nil {
		return nil, nil, err
	}
	outcomes := map[string]string{}
	for k, v := range deliveries {
		if parts := strings.Split(k, "."); len(parts) == 3 {
			outcomes[parts[1]] = v
		}
	}
	return deliveries, outcomes, nil
}
