package commands

import (
	"context"
	"errors"
	"fmt"
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
	deliveries, err := h.camp.scan(ctx, "d.*."+member)
	if err != nil {
		return err
	}
	outcomes := map[string]string{} // by campaign
	for k, v := range deliveries {
		if parts := strings.Split(k, "."); len(parts) == 3 {
			outcomes[parts[1]] = v
		}
	}
	withdrawn := map[string]bool{}
	for slug, v := range outcomes {
		if v == events.OutcomeSending {
			withdrawn[slug] = true
		}
	}
	if s, err := h.js.Stream(ctx, h.names.CampaignsStream()); err == nil {
		// Securely: a queued message holds the member's chat id and the text sent to them.
		for _, p := range []events.Platform{events.Telegram, events.WhatsApp} {
			for range 100 { // a member has one message per campaign queued at most
				m, err := s.GetLastMsgForSubject(ctx, h.names.CampaignSubject(p, member))
				if errors.Is(err, jetstream.ErrMsgNotFound) {
					break
				}
				if err != nil {
					return fmt.Errorf("campaigns: queued message: %w", err)
				}
				if r, err := events.DecodeReply(m.Data); err == nil && r.Campaign != nil {
					switch outcomes[r.Campaign.Slug] {
					case "", events.OutcomeRetry, events.OutcomeSending:
						withdrawn[r.Campaign.Slug] = true
					}
				}
				if err := events.SecureDeleteSeq(ctx, s, m.Sequence); err != nil {
					return fmt.Errorf("campaigns: queued message: %w", err)
				}
			}
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("campaigns: %w", err)
	}
	for slug := range withdrawn {
		events.CountSettled(ctx, h.camp.kv, h.log, slug, events.CountWithdrawn)
	}
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
