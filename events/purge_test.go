package events_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// TestPurgeSubjectKeepsConsumersInPlace purges one imported day, then a day holding nothing,
// while a durable consumer on the whole event log has delivered nothing yet: the day's events
// are gone, every other event is still pending for the consumer. nats-server before 2.9.12
// moved such a consumer past the stream's end on a subject purge (then nothing is pending),
// which is why PurgeSubject deletes message by message on those servers; with NATS_URL this
// runs on whatever server the machine has.
func TestPurgeSubjectKeepsConsumersInPlace(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	n := env.Names
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, n.EventsStream(), events.DurableConfig("probe", n.EventsFilter()))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	subjects := []string{
		n.EventSubject(events.Telegram, "g1", "m1"),
		n.HistorySubject(old, "g1", "m1"),
		n.HistorySubject(old, "g1", "m2"),
		n.HistorySubject(old.AddDate(0, 0, 1), "g1", "m1"),
		n.EventSubject(events.Telegram, "g1", "m2"),
	}
	for _, subj := range subjects {
		if _, err := env.JS.Publish(ctx, subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := env.JS.Stream(ctx, n.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		day           time.Time
		removed, left uint64
	}{
		{old, 2, 3},
		{old.AddDate(0, 0, -1), 0, 3}, // nothing of that day: nothing may move
		{old, 0, 3},                   // again: idempotent
	} {
		got, err := events.PurgeSubject(ctx, env.JS, s, n.HistoryDayFilter(tc.day))
		if err != nil {
			t.Fatalf("purge %s: %v", tc.day.Format(time.DateOnly), err)
		}
		if got != tc.removed {
			t.Errorf("purge %s removed %d, want %d", tc.day.Format(time.DateOnly), got, tc.removed)
		}
		if msgs := env.StreamMsgs(t, n.EventsStream()); msgs != tc.left {
			t.Errorf("after purging %s the stream holds %d, want %d", tc.day.Format(time.DateOnly), msgs, tc.left)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending != tc.left || info.Delivered.Stream != 0 {
			t.Errorf("after purging %s the consumer has %d pending, delivered up to #%d; want %d pending from the start",
				tc.day.Format(time.DateOnly), info.NumPending, info.Delivered.Stream, tc.left)
		}
	}
	// And it delivers them: the three that stayed, in order.
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, m.Subject())
		_ = m.Ack()
	}
	want := []string{subjects[0], subjects[3], subjects[4]}
	if !slices.Equal(got, want) {
		t.Errorf("consumer got %v, want %v", got, want)
	}
}
