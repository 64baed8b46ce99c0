package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrLockLost means another process took the session lock: this one must disconnect, or two
// processes would run one WhatsApp session (WhatsApp then replaces one stream by the other).
var ErrLockLost = errors.New("whatsapp session lock lost")

// sessionLock is the single-active-session lock of one WhatsApp device: a key in the locks
// bucket, whose TTL frees it when its holder dies without releasing it.
type sessionLock struct {
	kv     jetstream.KeyValue
	key    string
	holder []byte
	// every is how often the holder refreshes the key and a waiter retries: a third of the
	// bucket's TTL, so two missed refreshes still keep it.
	every time.Duration
	rev   uint64
}

func newSessionLock(kv jetstream.KeyValue, key, holder string, ttl time.Duration) *sessionLock {
	return &sessionLock{kv: kv, key: key, holder: []byte(holder), every: max(ttl/3, 10*time.Millisecond)}
}

// Acquire waits until the lock is free and takes it. waiting is called once if it has to wait.
func (l *sessionLock) Acquire(ctx context.Context, waiting func()) error {
	told := false
	for {
		rev, err := l.kv.Create(ctx, l.key, l.holder)
		if err == nil {
			l.rev = rev
			return nil
		}
		// Held by someone else, or a NATS hiccup: either way the lock is not ours yet.
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.every):
		}
	}
}

// Keep refreshes the lock until ctx is done (nil) or the lock is lost (ErrLockLost): someone
// else wrote the key, or refreshing failed for longer than the TTL.
func (l *sessionLock) Keep(ctx context.Context) error {
	t := time.NewTicker(l.every)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rev, err := l.kv.Update(ctx, l.key, l.holder, l.rev)
		switch {
		case err == nil:
			l.rev, lastOK = rev, time.Now()
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
			return fmt.Errorf("%w: %w", ErrLockLost, err)
		case time.Since(lastOK) > 3*l.every:
			return fmt.Errorf("%w: refresh failing: %w", ErrLockLost, err)
		}
	}
}

// Release frees the lock if it is still ours.
func (l *sessionLock) Release(ctx context.Context) error {
	if l.rev == 0 {
		return nil
	}
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	l.rev = 0
	if err != nil {
		return fmt.Errorf("session lock release: %w", err)
	}
	return nil
}
