package telegram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// kvLock is a single-holder lock in a NATS KV bucket whose entries expire after
// events.LockTTL: a holder that dies without releasing frees the lock within a TTL.
type kvLock struct {
	kv    jetstream.KeyValue
	key   string
	owner []byte
	rev   uint64
	log   *slog.Logger
}

// acquireLock waits until it holds key, or ctx ends.
func acquireLock(ctx context.Context, js jetstream.JetStream, bucket, key string, log *slog.Logger) (*kvLock, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("lock bucket %s: %w", bucket, err)
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	l := &kvLock{kv: kv, key: key, owner: []byte(hex.EncodeToString(b)), log: log}
	waiting := false
	for {
		rev, err := kv.Create(ctx, key, l.owner)
		if err == nil {
			l.rev = rev
			if waiting {
				log.Info("telegram poll lock acquired")
			}
			return l, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			log.Warn("telegram poll lock: cannot create", "err", err.Error())
		} else if !waiting {
			log.Info("telegram poll lock held by another process, waiting")
			waiting = true
		}
		if !sleep(ctx, events.LockTTL/6) {
			return nil, ctx.Err()
		}
	}
}

// keep refreshes the lock until ctx ends (nil) or the lock is lost (an error): taken by
// someone else, or not refreshed for a whole TTL.
func (l *kvLock) keep(ctx context.Context) error {
	tick := time.NewTicker(events.LockTTL / 3)
	defer tick.Stop()
	refreshed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, events.LockTTL/3)
		rev, err := l.kv.Update(rctx, l.key, l.owner, l.rev)
		cancel()
		switch {
		case err == nil:
			l.rev, refreshed = rev, time.Now()
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists):
			return fmt.Errorf("lock %s taken over: %w", l.key, err)
		case time.Since(refreshed) >= events.LockTTL:
			return fmt.Errorf("lock %s not refreshed for %s: %w", l.key, events.LockTTL, err)
		default:
			l.log.Warn("telegram poll lock refresh failed", "err", err.Error())
		}
	}
}

// release frees the lock if this process still holds it.
func (l *kvLock) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		l.log.Debug("telegram poll lock release", "err", err.Error())
	}
}
