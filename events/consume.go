package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// permanentError marks a failure no retry can fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix: the message goes to the dead-letter
// stream with err's text as the reason. Decode errors are permanent without marking.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// retryError asks for a retry after a given delay (a CRM's Retry-After, say).
type retryError struct {
	err   error
	after time.Duration
}

func (e retryError) Error() string { return e.err.Error() }
func (e retryError) Unwrap() error { return e.err }

// RetryAfter marks err as worth retrying after d.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return retryError{err: err, after: d}
}

// IsPermanent reports whether err should dead-letter the message.
func IsPermanent(err error) bool {
	var p permanentError
	var d *DecodeError
	return errors.As(err, &p) || errors.As(err, &d)
}

// RetryDelay returns the delay err asked for, if any.
func RetryDelay(err error) (time.Duration, bool) {
	var r retryError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// Backoff is jittered exponential backoff for the n-th delivery (1-based), capped.
func Backoff(n uint64, base, ceiling time.Duration) time.Duration {
	d := base
	for i := uint64(1); i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	// ±20 % jitter so replicas that failed together do not retry together.
	return d - d/5 + rand.N(d*2/5+1)
}

// Settler turns a handler's error into one of three outcomes: nil acks, a permanent error
// dead-letters then terminates, anything else is redelivered after a delay.
type Settler struct {
	Pub *Publisher
	Log *slog.Logger
	// MaxDeliver dead-letters a message that failed this many times (0: retry forever, for
	// outages such as a CRM or Redis down, where giving up would lose data).
	MaxDeliver uint64
	// BaseDelay and MaxDelay bound the retry backoff.
	BaseDelay, MaxDelay time.Duration
}

// Outcome names what Settle did, for metrics.
type Outcome string

const (
	Acked        Outcome = "ack"
	Retried      Outcome = "retry"
	DeadLettered Outcome = "dead_letter"
)

// Settle acknowledges msg according to err. It returns what it did, and an error only when
// it could not tell the server (the message will then be redelivered after AckWait).
func (s Settler) Settle(ctx context.Context, msg jetstream.Msg, herr error) (Outcome, error) {
	if herr == nil {
		if err := msg.Ack(); err != nil {
			return Acked, fmt.Errorf("ack: %w", err)
		}
		return Acked, nil
	}
	var delivered uint64 = 1
	if md, err := msg.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	permanent := IsPermanent(herr)
	if !permanent && s.MaxDeliver > 0 && delivered >= s.MaxDeliver {
		permanent = true
		herr = fmt.Errorf("gave up after %d deliveries: %w", delivered, herr)
	}
	if permanent {
		if err := s.Pub.DeadLetter(ctx, msg, herr.Error()); err != nil {
			// Keep the message: losing it would be worse than seeing it again.
			_ = msg.NakWithDelay(s.delay(delivered))
			return Retried, err
		}
		s.logger().Warn("dead-lettered", "subject", msg.Subject(), "reason", herr.Error())
		if err := msg.Term(); err != nil {
			return DeadLettered, fmt.Errorf("term: %w", err)
		}
		return DeadLettered, nil
	}
	d, ok := RetryDelay(herr)
	if !ok {
		d = s.delay(delivered)
	}
	s.logger().Debug("retrying", "subject", msg.Subject(), "delivered", delivered, "delay", d, "err", herr.Error())
	if err := msg.NakWithDelay(d); err != nil {
		return Retried, fmt.Errorf("nak: %w", err)
	}
	return Retried, nil
}

func (s Settler) delay(delivered uint64) time.Duration {
	base, ceiling := s.BaseDelay, s.MaxDelay
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = time.Minute
	}
	return Backoff(delivered, base, ceiling)
}

func (s Settler) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Handler processes one message; its error decides the outcome (see Settler).
type Handler func(ctx context.Context, msg jetstream.Msg) error

// Consume runs h on every message of cons until ctx is cancelled, then stops fetching and
// lets the messages already delivered finish: nothing is acked half-done. Handlers run with a
// context that outlives ctx, so a shutdown does not abort a write in flight.
func Consume(ctx context.Context, cons jetstream.Consumer, s Settler, h Handler, opts ...jetstream.PullConsumeOpt) error {
	work := context.WithoutCancel(ctx)
	opts = append([]jetstream.PullConsumeOpt{jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrConsumerDeleted) {
			s.logger().Debug("consume", "err", err.Error())
		}
	})}, opts...)
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		if _, err := s.Settle(work, msg, h(work, msg)); err != nil {
			s.logger().Warn("settle", "subject", msg.Subject(), "err", err.Error())
		}
	}, opts...)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	<-ctx.Done()
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(30 * time.Second):
		cc.Stop()
	}
	return nil
}

// DurableConfig is the pull consumer every relais role uses: explicit acks, delivery retried
// by the Settler rather than by the server's MaxDeliver (which would drop silently).
func DurableConfig(name, filter string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 10000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}
