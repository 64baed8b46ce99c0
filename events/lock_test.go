package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

func TestLock(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	kv, err := env.JS.KeyValue(ctx, env.Names.LocksBucket())
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 150 * time.Millisecond // refresh and retry every 50 ms
	first := events.NewLock(kv, "whatsapp-1", ttl)
	second := events.NewLock(kv, "whatsapp-1", ttl)
	if err := first.Acquire(ctx, nil); err != nil {
		t.Fatalf("first Acquire: %v", err)
	}
	waited := false
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = second.Acquire(wctx, func() { waited = true })
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("second Acquire while held: err=%v waited=%v", err, waited)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := second.Acquire(ctx, nil); err != nil {
		t.Fatalf("second Acquire after release: %v", err)
	}
	// Someone else overwrites the key: the holder notices and gives up the session.
	if _, err := kv.Put(ctx, "whatsapp-1", []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := second.Keep(kctx); !errors.Is(err, events.ErrLockLost) {
		t.Fatalf("Keep after the key was taken: %v, want events.ErrLockLost", err)
	}
}
