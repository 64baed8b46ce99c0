package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// ApplyDirect applies evs to Redis exactly as the bridge applies a batch it consumed: the
// same reference lookups, the same pipelined Lua calls per event (the member write script for
// the sender and every member credited, the group script, one evaluation per member touched,
// the index script), in batches of cfg.BatchSize, one batch after another. It does no NATS
// work: no consumer, no acks, no contact changes (so no confirm script either). `relais bench`
// uses it for the Redis ceiling, the rate the bridge could reach if NATS cost nothing.
//
// It is not a way to feed production state: events applied here never reach the CRM.
// It returns the first rule violation of an event, or the first batch error.
func ApplyDirect(ctx context.Context, cfg Config, rdb redis.UniversalClient, h events.Hasher, evs []events.Event) error {
	b, err := newBridge(cfg, rdb, h)
	if err != nil {
		return err
	}
	if err := b.scripts.load(ctx, b.rdb); err != nil {
		return fmt.Errorf("apply direct: %w", err)
	}
	for start := 0; start < len(evs); start += b.cfg.BatchSize {
		batch := evs[start:min(start+b.cfg.BatchSize, len(evs))]
		errs, err := b.applyEvents(ctx, batch, false)
		if err != nil {
			return fmt.Errorf("apply direct: %w", err)
		}
		for i := range errs {
			if errors.Is(errs[i], errSuppressed) {
				errs[i] = nil
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("apply direct: %w", err)
		}
	}
	return nil
}
