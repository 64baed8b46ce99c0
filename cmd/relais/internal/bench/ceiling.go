package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// benchNoRules is both ceilings at once: it publishes the workload as benchRawJetStream does
// and consumes it as a bridge without rules would, each batch written with the reference Lua
// (dedup and six writes per event) in one pipeline, then acked. Raw JetStream and the
// references are each measured alone on the whole machine; a bridge does both jobs on the
// same cores, so this is the rate a bridge that cost nothing beyond them could reach here.
func benchNoRules(ctx context.Context, js jetstream.JetStream, pub *events.Publisher, rdb redis.UniversalClient, prefix string, h events.Hasher, evs []events.Event) (float64, error) {
	sc := redis.NewScript(refLua)
	if err := sc.Load(ctx, rdb).Err(); err != nil {
		return 0, fmt.Errorf("no-rules ceiling: %w", err)
	}
	ttl := int64((92 * 24 * time.Hour).Seconds())
	start := time.Now()
	cons, drop, err := benchPublishThenConsumer(ctx, js, pub, evs, "bench-norules")
	if err != nil {
		return 0, err
	}
	defer drop()
	// Delivery and writes overlap, as in the bridge: the callback queues, one writer drains.
	msgs := make(chan jetstream.Msg, 4000)
	cc, err := cons.Consume(func(m jetstream.Msg) { msgs <- m }, jetstream.PullMaxMessages(4000))
	if err != nil {
		return 0, fmt.Errorf("no-rules consume: %w", err)
	}
	defer cc.Stop()
	for done := 0; done < len(evs); {
		var batch []jetstream.Msg
		select {
		case m := <-msgs:
			batch = append(batch, m)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	more:
		for len(batch) < 2000 {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break more
			}
		}
		for lo := 0; lo < len(batch); lo += refBatch {
			chunk := batch[lo:min(lo+refBatch, len(batch))]
			if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, m := range chunk {
					ev, err := events.DecodeEvent(m.Data())
					if err != nil {
						return fmt.Errorf("no-rules ceiling: %w", err)
					}
					day, at, person, member := refArgs(h, ev)
					sc.EvalSha(ctx, p, refKeys(prefix, h, ev), ttl, day, at, person, member)
				}
				return nil
			}); err != nil {
				return 0, fmt.Errorf("no-rules ceiling: %w", err)
			}
		}
		for _, m := range batch {
			_ = m.Ack()
		}
		done += len(batch)
	}
	return benchPerSecond(len(evs), time.Since(start)), nil
}
