package events_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

func testEvent(id, sender string) events.Event {
	return events.Event{
		V: events.Version, ID: id, Kind: events.KindMessage, Platform: events.Telegram,
		At:     time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC),
		Group:  &events.Group{ID: "-1001", Title: "Entraide"},
		Sender: events.Member{ID: sender, Name: "Camille"},
		Chars:  20,
	}
}

func TestPublishConsumeDedupDeadLetter(t *testing.T) {
	env := eventstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The same id twice is one message in the stream.
	for range 2 {
		if _, err := env.Pub.Event(ctx, testEvent("telegram:-1001:1", "7")); err != nil {
			t.Fatal(err)
		}
	}
	dup, err := env.Pub.Event(ctx, testEvent("telegram:-1001:1", "7"))
	if err != nil || !dup {
		t.Fatalf("third publish: duplicate=%v err=%v, want duplicate", dup, err)
	}
	if _, err := env.Pub.Event(ctx, testEvent("telegram:-1001:2", "8")); err != nil {
		t.Fatal(err)
	}
	// A malformed message, as a buggy or hostile publisher would send it.
	bad := env.Names.EventSubject(events.Telegram, "g", "m")
	if _, err := env.JS.Publish(ctx, bad, []byte(`{"v":7,"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if n := env.StreamMsgs(t, env.Names.EventsStream()); n != 3 {
		t.Fatalf("events stream holds %d messages, want 3 (one duplicate dropped)", n)
	}

	cons, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.EventsStream(),
		events.DurableConfig("test", env.Names.EventsFilter()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	settler := events.Settler{Pub: env.Pub}
	runCtx, stop := context.WithCancel(ctx)
	go func() {
		defer close(done)
		err := events.Consume(runCtx, cons, settler, func(_ context.Context, msg jetstream.Msg) error {
			e, err := events.DecodeEvent(msg.Data())
			if err != nil {
				return err
			}
			mu.Lock()
			got = append(got, e.ID)
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, func() bool { return env.StreamMsgs(t, env.Names.DLQStream()) == 1 })
	waitFor(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	stop()
	<-done

	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "telegram:-1001:1,telegram:-1001:2" {
		t.Fatalf("consumed %v", got)
	}
	dlq, err := env.JS.Stream(ctx, env.Names.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dlq.GetLastMsgForSubject(ctx, env.Names.DLQSubject(bad))
	if err != nil {
		t.Fatal(err)
	}
	reason := msg.Header.Get(events.HeaderReason)
	if !strings.Contains(reason, "unknown schema version") || msg.Header.Get(events.HeaderSubject) != bad {
		t.Fatalf("dead letter headers: %v", msg.Header)
	}
}

func TestRetryThenSucceed(t *testing.T) {
	env := eventstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := env.Pub.Event(ctx, testEvent("telegram:-1001:9", "7")); err != nil {
		t.Fatal(err)
	}
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, env.Names.EventsStream(),
		events.DurableConfig("retry", env.Names.EventsFilter()))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	attempts := 0
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = events.Consume(runCtx, cons, events.Settler{Pub: env.Pub, BaseDelay: 10 * time.Millisecond},
			func(context.Context, jetstream.Msg) error {
				mu.Lock()
				defer mu.Unlock()
				attempts++
				if attempts < 3 {
					return events.RetryAfter(errors.New("redis down"), 20*time.Millisecond)
				}
				return nil
			})
	}()
	waitFor(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream == 1
	})
	stop()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 {
		t.Fatalf("handler ran %d times, want 3", attempts)
	}
	if n := env.StreamMsgs(t, env.Names.DLQStream()); n != 0 {
		t.Fatalf("a retried message must not be dead-lettered; DLQ holds %d", n)
	}
}

func TestPurgeMember(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	for i, sender := range []string{"7", "7", "8"} {
		if _, err := env.Pub.Event(ctx, testEvent("telegram:-1001:"+string(rune('a'+i)), sender)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := events.PurgeMember(ctx, env.JS, env.Names, env.Hasher.Member(events.Telegram, "7"))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || env.StreamMsgs(t, env.Names.EventsStream()) != 1 {
		t.Fatalf("purged %d, left %d; want 2 and 1", n, env.StreamMsgs(t, env.Names.EventsStream()))
	}
}

func TestSetupIsIdempotent(t *testing.T) {
	env := eventstest.New(t)
	if err := events.Setup(context.Background(), env.JS, env.Names, env.Limits); err != nil {
		t.Fatalf("second setup: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
