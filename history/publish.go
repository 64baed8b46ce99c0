package history

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// asyncWindow bounds the publishes awaiting their ack: a million events are published
// without a round trip each, and without a million futures held.
const asyncWindow = 4096

// asyncPublisher publishes without waiting for each ack, and counts what the acks say per
// group.
type asyncPublisher struct {
	js      jetstream.JetStream
	pending []pending
	mu      sync.Mutex
	err     error
}

type pending struct {
	f jetstream.PubAckFuture
	t *tally
}

func newAsyncPublisher(js jetstream.JetStream) *asyncPublisher { return &asyncPublisher{js: js} }

func (p *asyncPublisher) publish(ctx context.Context, m *nats.Msg, t *tally) error {
	if len(p.pending) >= asyncWindow {
		if err := p.wait(ctx); err != nil {
			return err
		}
	}
	f, err := p.js.PublishMsgAsync(m)
	if err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	p.pending = append(p.pending, pending{f, t})
	return nil
}

// wait waits for every pending ack and returns the first failure.
func (p *asyncPublisher) wait(ctx context.Context) error {
	for _, pd := range p.pending {
		select {
		case ack := <-pd.f.Ok():
			if ack.Duplicate {
				pd.t.Duplicates++
			} else {
				pd.t.Published++
			}
		case err := <-pd.f.Err():
			p.fail(fmt.Errorf("publish event: %w", err))
		case <-ctx.Done():
			p.fail(ctx.Err())
		}
	}
	p.pending = p.pending[:0]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *asyncPublisher) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}
