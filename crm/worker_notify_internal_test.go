package crm

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

type countingSink struct{ erases atomic.Int32 }

func (s *countingSink) Upsert(context.Context, Contact) (string, error) { return "", nil }
func (s *countingSink) Erase(context.Context, string, string) error {
	s.erases.Add(1)
	return nil
}

// TestEraseNotifyRedelivered drives the handler through the crashes a worker can have: the
// member is told once whichever step the crash cut.
func TestEraseNotifyRedelivered(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	n := env.Names
	if err := env.JS.DeleteKeyValue(ctx, n.CRMRefsBucket()); err != nil {
		t.Fatal(err)
	}
	kv, err := events.ErasableKeyValue(ctx, env.JS, jetstream.KeyValueConfig{Bucket: n.CRMRefsBucket(), Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	sink := &countingSink{}
	w, err := NewWorker(WorkerConfig{}, env.JS, n, env.Pub, sink)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := env.JS.Stream(ctx, n.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	h := &handler{w: w, stream: stream, kv: kv}
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, n.CRMStream(), events.DurableConfig("t", n.CRMFilter()))
	if err != nil {
		t.Fatal(err)
	}
	notify := &events.Notify{Platform: events.WhatsApp, Chat: "33612345678@s.whatsapp.net", Done: "C'est fait.", Failed: "Échec : %s"}
	next := func(id string) (jetstream.Msg, events.ContactChange) {
		t.Helper()
		c := events.ContactChange{V: events.Version, ID: id, Member: "m", ExternalID: events.ExternalID("m"), Op: events.OpErase, At: time.Now().UTC(), Notify: notify}
		if err := env.Pub.ContactChange(ctx, c); err != nil {
			t.Fatal(err)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return msg, c
	}
	replies := func() uint64 { return env.StreamMsgs(t, n.RepliesStream()) }

	// Crash after everything but the ack: the same message comes back.
	msg, _ := next("e1")
	for range 2 {
		if err := h.handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if got := replies(); got != 1 {
		t.Fatalf("%d notices after a redelivery, want 1", got)
	}

	// Crash after the notice was noted, before the change was deleted.
	msg, c := next("e2")
	if err := h.save(ctx, "m", record{Erased: true, State: StateHash(c), Notified: true}); err != nil {
		t.Fatal(err)
	}
	before := sink.erases.Load()
	if err := h.handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if got := replies(); got != 1 {
		t.Errorf("%d notices, want still 1: the member was already told", got)
	}
	if sink.erases.Load() != before {
		t.Error("the CRM was called again for an erase it had confirmed")
	}
	if _, err := stream.GetLastMsgForSubject(ctx, n.CRMSubject("m")); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("change after the redelivery: %v, want deleted", err)
	}
	if _, err := kv.Get(ctx, "m"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("refs entry: %v, want deleted", err)
	}
}
