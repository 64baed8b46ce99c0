package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrLockLost means another process took the lock, or it could not be refreshed for a TTL:
// the holder must stop what the lock guards (a second poller makes Telegram answer 409 to
// both; a second WhatsApp session replaces the first).
var ErrLockLost = errors.New("lock lost")

// Lock is a single-holder lock in the locks bucket: one active adapter per Telegram token and
// per WhatsApp session. The bucket's TTL frees it when its holder dies without releasing it.
type Lock struct {
	kv     jetstream.KeyValue
	key    string
	holder []byte
	// every is how often the holder refreshes the key and a waiter retries: a third of the
	// bucket's TTL, so two missed refreshes still keep it.
	every time.Duration
	rev   uint64
}

// NewLock returns the lock key of the bucket kv; ttl is the bucket's TTL (LockTTL). The
// holder's name (host, process, random) tells an operator who holds it.
func NewLock(kv jetstream.KeyValue, key string, ttl time.Duration) *Lock {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	holder := host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b)
	return &Lock{kv: kv, key: key, holder: []byte(holder), every: max(ttl/3, 10*time.Millisecond)}
}

// Acquire waits until the lock is free and takes it. waiting is called once if it has to wait.
func (l *Lock) Acquire(ctx context.Context, waiting func()) error {
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
func (l *Lock) Keep(ctx context.Context) error {
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
func (l *Lock) Release(ctx context.Context) error {
	if l.rev == 0 {
		return nil
	}
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	l.rev = 0
	if err != nil {
		return fmt.Errorf("lock release: %w", err)
	}
	return nil
}
