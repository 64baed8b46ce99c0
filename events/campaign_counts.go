package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// A campaign's figures are kept as anonymous counters under CountsKey, beside the delivery
// records. The records name members, so an objection or an erasure deletes them; counters
// name nobody, so what a report says was sent stays true after a recipient is forgotten.

// CountWithdrawn counts a recipient taken off the queue before their message was settled:
// they objected or asked for erasure meanwhile.
const CountWithdrawn = "withdrawn"

// CampaignCounts are one campaign's anonymous figures: final delivery outcomes, and the
// members' answers by choice (the bridge moves a changed answer from one to the other).
type CampaignCounts struct {
	Sent      int            `json:"sent"`
	Failed    int            `json:"failed"`
	Blocked   int            `json:"blocked"`
	Withdrawn int            `json:"withdrawn"`
	Answers   map[string]int `json:"answers,omitempty"`
}

// Settled is how many recipients of the queue have an outcome that is final.
func (c CampaignCounts) Settled() int { return c.Sent + c.Failed + c.Blocked + c.Withdrawn }

// CountsKey holds a campaign's counters.
func CountsKey(slug string) string { return "n." + slug }

// maxCountAttempts bounds the compare-and-swap loop: adapters of every platform settle the
// same campaign at once, but only a few at a time.
const maxCountAttempts = 20

// StartCounts creates a campaign's counters, at zero, before anything is queued. A
// campaign confirmed before counters existed has none; CountDelivery leaves it alone, and
// its report is read from its records as before.
func StartCounts(ctx context.Context, kv jetstream.KeyValue, slug string) error {
	raw, _ := json.Marshal(CampaignCounts{})
	if _, err := kv.Create(ctx, CountsKey(slug), raw); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("campaign counts: %w", err)
	}
	return nil
}

// ReadCounts returns a campaign's counters; found is false for a campaign without any.
func ReadCounts(ctx context.Context, kv jetstream.KeyValue, slug string) (CampaignCounts, bool, error) {
	c, _, found, err := readCounts(ctx, kv, slug)
	return c, found, err
}

func readCounts(ctx context.Context, kv jetstream.KeyValue, slug string) (CampaignCounts, uint64, bool, error) {
	e, err := kv.Get(ctx, CountsKey(slug))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return CampaignCounts{}, 0, false, nil
	}
	if err != nil {
		return CampaignCounts{}, 0, false, fmt.Errorf("campaign counts: %w", err)
	}
	var c CampaignCounts
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return CampaignCounts{}, 0, false, fmt.Errorf("campaign counts: %w", err)
	}
	return c, e.Revision(), true, nil
}

// CountDelivery adds one recipient's final outcome (OutcomeSent, OutcomeFailed,
// OutcomeBlocked or CountWithdrawn) to a campaign's counters. Adapters call it once, right
// after settling a claimed recipient; an outcome that is not final (OutcomeRetry,
// OutcomeSending) counts nothing, since the recipient will be settled again.
func CountDelivery(ctx context.Context, kv jetstream.KeyValue, slug, outcome string) error {
	var add func(*CampaignCounts)
	switch outcome {
	case OutcomeSent:
		add = func(c *CampaignCounts) { c.Sent++ }
	case OutcomeFailed:
		add = func(c *CampaignCounts) { c.Failed++ }
	case OutcomeBlocked:
		add = func(c *CampaignCounts) { c.Blocked++ }
	case CountWithdrawn:
		add = func(c *CampaignCounts) { c.Withdrawn++ }
	default:
		return nil
	}
	return UpdateCounts(ctx, kv, slug, add)
}

// CountAnswer moves one member's answer to a campaign from prev ("" for none) to next.
func CountAnswer(ctx context.Context, kv jetstream.KeyValue, slug, prev, next string) error {
	if prev == next {
		return nil
	}
	return UpdateCounts(ctx, kv, slug, func(c *CampaignCounts) {
		if c.Answers == nil {
			c.Answers = map[string]int{}
		}
		if prev != "" && c.Answers[prev] > 0 {
			c.Answers[prev]--
		}
		c.Answers[next]++
	})
}

// UpdateCounts applies change to a campaign's counters, compare-and-swap, unless it has none.
func UpdateCounts(ctx context.Context, kv jetstream.KeyValue, slug string, change func(*CampaignCounts)) error {
	for range maxCountAttempts {
		c, rev, found, err := readCounts(ctx, kv, slug)
		if err != nil || !found {
			return err
		}
		change(&c)
		raw, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("campaign counts: %w", err)
		}
		_, err = kv.Update(ctx, CountsKey(slug), raw, rev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !IsWrongLastSequence(err) {
			return fmt.Errorf("campaign counts: %w", err)
		}
	}
	return errors.New("campaign counts: too much contention")
}

// CountSettled is CountDelivery for an adapter that has just settled a recipient. A count
// that cannot be written is logged, not retried: the recipient is settled, and retrying the
// message would only skip it as claimed.
func CountSettled(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger, slug, outcome string) {
	if err := CountDelivery(ctx, kv, slug, outcome); err != nil && log != nil {
		log.Warn("campaign count lost: the report will show this recipient as queued", "campaign", slug, "err", err)
	}
}
