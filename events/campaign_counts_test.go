package events_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

func campaignsBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	env := eventstest.New(t)
	kv, err := env.JS.KeyValue(context.Background(), env.Names.CampaignsBucket())
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// Each final outcome counts once; a recipient released for a retry, or still being sent,
// counts nothing; a campaign without counters (confirmed before they existed) gets none.
func TestCountDelivery(t *testing.T) {
	tests := []struct {
		name     string
		start    bool
		outcomes []string
		want     events.CampaignCounts
		found    bool
	}{
		{"final outcomes", true, []string{events.OutcomeSent, events.OutcomeSent, events.OutcomeFailed, events.OutcomeBlocked, events.CountWithdrawn},
			events.CampaignCounts{Sent: 2, Failed: 1, Blocked: 1, Withdrawn: 1}, true},
		{"retry and sending are not final", true, []string{events.OutcomeRetry, events.OutcomeSending, events.OutcomeSent},
			events.CampaignCounts{Sent: 1}, true},
		{"a campaign without counters stays without", false, []string{events.OutcomeSent}, events.CampaignCounts{}, false},
	}
	kv := campaignsBucket(t)
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slug := "count-" + string(rune('a'+i))
			if tt.start {
				for range 2 { // a retried confirmation starts them again: nothing is reset
					if err := events.StartCounts(ctx, kv, slug); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, o := range tt.outcomes {
				if err := events.CountDelivery(ctx, kv, slug, o); err != nil {
					t.Fatal(err)
				}
			}
			if tt.start {
				if err := events.StartCounts(ctx, kv, slug); err != nil {
					t.Fatal(err)
				}
			}
			got, found, err := events.ReadCounts(ctx, kv, slug)
			if err != nil || found != tt.found || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("counts %+v (found %v, %v), want %+v (found %v)", got, found, err, tt.want, tt.found)
			}
		})
	}
}

// Adapters of both platforms settling one campaign at once lose no count.
func TestCountDeliveryConcurrent(t *testing.T) {
	kv := campaignsBucket(t)
	ctx := context.Background()
	if err := events.StartCounts(ctx, kv, "busy"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 4 {
		wg.Go(func() {
			for range 4 {
				if err := events.CountDelivery(ctx, kv, "busy", events.OutcomeSent); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, _, _ := events.ReadCounts(ctx, kv, "busy"); got.Sent != 16 {
		t.Fatalf("sent %d, want 16", got.Sent)
	}
}

// An answer changed counts once, under its new choice; the same answer again changes nothing.
func TestCountAnswer(t *testing.T) {
	kv := campaignsBucket(t)
	ctx := context.Background()
	if err := events.StartCounts(ctx, kv, "answers"); err != nil {
		t.Fatal(err)
	}
	for _, step := range [][2]string{{"", "relay"}, {"", "not_now"}, {"not_now", "relay"}, {"relay", "relay"}} {
		if err := events.CountAnswer(ctx, kv, "answers", step[0], step[1]); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := events.ReadCounts(ctx, kv, "answers")
	if want := map[string]int{"relay": 2, "not_now": 0}; err != nil || !reflect.DeepEqual(got.Answers, want) {
		t.Fatalf("answers %v (%v), want %v", got.Answers, err, want)
	}
}
