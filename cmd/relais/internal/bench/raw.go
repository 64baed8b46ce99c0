package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// benchRawJetStream publishes the workload's encoded events to the events stream (async, with
// Nats-Msg-Id, as adapters do) and consumes them with explicit acks, doing nothing else: the
// ceiling any JetStream consumer of these payloads can reach on this machine.
func benchRawJetStream(ctx context.Context, js jetstream.JetStream, pub *events.Publisher, evs []events.Event) (rate float64, err error) {
	start := time.Now()
	cons, drop, err := benchPublishThenConsumer(ctx, js, pub, evs, "bench-raw")
	if err != nil {
		return 0, err
	}
	defer drop()
	var got atomic.Int64
	done := make(chan struct{})
	total := int64(len(evs))
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		if _, err := events.DecodeEvent(msg.Data()); err == nil {
			_ = msg.Ack()
		}
		if got.Add(1) == total {
			close(done)
		}
	}, jetstream.PullMaxMessages(1000))
	if err != nil {
		return 0, fmt.Errorf("raw consume: %w", err)
	}
	defer cc.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return float64(len(evs)) / time.Since(start).Seconds(), nil
}

// benchPublishThenConsumer publishes the events as adapters do, then makes a durable consumer
// of them named name; drop deletes it.
func benchPublishThenConsumer(ctx context.Context, js jetstream.JetStream, pub *events.Publisher, evs []events.Event, name string) (jetstream.Consumer, func(), error) {
	if err := benchPublish(ctx, js, pub, evs); err != nil {
		return nil, nil, err
	}
	names := pub.Names()
	cons, err := js.CreateOrUpdateConsumer(ctx, names.EventsStream(), events.DurableConfig(name, names.EventsFilter()))
	if err != nil {
		return nil, nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	return cons, func() { _ = js.DeleteConsumer(context.WithoutCancel(ctx), names.EventsStream(), name) }, nil
}
