package campaigns

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
func (f *Feature) forgetCampaigns(ctx context.Context, member string) error {
	if f.st == nil {
		return nil
	}
	deliveries, outcomes, err := f.memberDeliveries(ctx, member)
	if err != nil {
		return err
	}
	withdrawn := map[string]bool{}
	for slug, v := range outcomes {
		if v == events.OutcomeSending {
			withdrawn[slug] = true
		}
	}
	purged, err := f.purgeQueued(ctx, member, outcomes)
	if err != nil {
		return err
	}
	for _, slug := range purged {
		withdrawn[slug] = true
	}
	f.countWithdrawn(ctx, slices.Collect(maps.Keys(withdrawn)))
	keys := events.MemberCampaignKeys(member)
	for k := range deliveries {
		keys = append(keys, k)
	}
	answers, err := f.st.scan(ctx, "a.*."+member)
	if err != nil {
		return err
	}
	for k := range answers {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := events.SecureDeleteKey(ctx, f.d.JS, f.d.Names.CampaignsBucket(), k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("campaigns: forget: %w", err)
		}
	}
	return nil
}

// Forget forgets campaigns about every token of a person and the canonical ones
// their campaign messages are addressed to, as the marker covers them (MarkDoNotContact).
func (f *Feature) Forget(ctx context.Context, tokens []string) error {
	if f.st == nil {
		return nil
	}
	for _, tok := range f.campaignTokens(tokens) {
		if err := f.forgetCampaigns(ctx, tok); err != nil {
			return err
		}
	}
	return nil
}

// countWithdrawn counts, in each campaign's anonymous counters, one recipient whose message
// will never be sent.
func (f *Feature) countWithdrawn(ctx context.Context, slugs []string) {
	for _, slug := range slugs {
		events.CountSettled(ctx, f.st.kv, f.d.Log, slug, events.CountWithdrawn)
	}
}

// memberDeliveries reads a member's delivery records: by key, and their outcomes by campaign.
func (f *Feature) memberDeliveries(ctx context.Context, member string) (map[string]string, map[string]string, error) {
	deliveries, err := f.st.scan(ctx, "d.*."+member)
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
