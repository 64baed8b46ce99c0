package telegram

import (
	"context"
	"fmt"
	"testing"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
)

// TestCampaignGateAskedAfterA429: a 429 on one campaign message holds every campaign
// message the adapter already pulled; a member marked do-not-contact during that hold (an
// objection, an erasure, "Ne plus me solliciter" to another campaign) gets nothing when it
// ends, and no delivery record names them; the others get theirs.
func TestCampaignGateAskedAfterA429(t *testing.T) {
	for _, reason := range []string{events.DoNotContactNoMore, events.DoNotContactStop, events.DoNotContactErased} {
		t.Run(reason, func(t *testing.T) {
			h := newHarness(t)
			a := h.adapter()
			ctx := context.Background()
			kv, err := h.env.JS.KeyValue(ctx, h.env.Names.CampaignsBucket())
			if err != nil {
				t.Fatal(err)
			}
			h.fake.FailNextTo(4001, tgtest.TooManyRequests(3))
			h.queueCampaign("a", 4001)
			stop := run(t, a.ServeCampaigns)
			waitFor(t, "the 429", func() bool { return len(h.fake.Refusals()) == 1 })
			// Queued during the hold: pulled by the adapter, which waits the hold out.
			h.queueCampaign("b", 4002)
			h.queueCampaign("b", 4003)
			cons, err := h.env.JS.Consumer(ctx, h.env.Names.CampaignsStream(), h.env.Names.CampaignConsumer(events.Telegram))
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "both pulled", func() bool {
				info, err := cons.Info(ctx)
				return err == nil && info.NumPending == 0 && info.Delivered.Consumer >= 3
			})
			if err := events.MarkDoNotContact(ctx, kv, "m4002", reason); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the rest delivered", func() bool {
				return h.outcome("a", 4001) == events.OutcomeSent && h.outcome("b", 4003) == events.OutcomeSent
			})
			waitFor(t, "the queue drained", func() bool {
				return h.env.StreamMsgs(t, h.env.Names.CampaignsStream()) == 0
			})
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			for _, s := range h.fake.Sent() {
				if s.ChatID == 4002 {
					t.Fatalf("a campaign message went to a member marked %s while it was held", reason)
				}
			}
			if o := h.outcome("b", 4002); o != "" {
				t.Errorf("delivery record %q about the marked member", o)
			}
		})
	}
}

// TestCampaignGateBeforeEachPull: a marked member's messages of every campaign are
// withheld, the others' sent.
func TestCampaignGateBeforeEachPull(t *testing.T) {
	h := newHarness(t)
	a := h.adapter()
	ctx := context.Background()
	kv, err := h.env.JS.KeyValue(ctx, h.env.Names.CampaignsBucket())
	if err != nil {
		t.Fatal(err)
	}
	if err := events.MarkDoNotContact(ctx, kv, "m5001", events.DoNotContactStop); err != nil {
		t.Fatal(err)
	}
	for i, slug := range []string{"a", "b", "c"} {
		h.queueCampaign(slug, 5001)
		h.queueCampaign(slug, int64(5002+i))
	}
	stop := run(t, a.ServeCampaigns)
	waitFor(t, "the queue drained", func() bool { return h.env.StreamMsgs(t, h.env.Names.CampaignsStream()) == 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	per := map[int64]int{}
	for _, s := range h.fake.Sent() {
		per[s.ChatID]++
	}
	want := map[int64]int{5002: 1, 5003: 1, 5004: 1}
	if fmt.Sprint(per) != fmt.Sprint(want) {
		t.Fatalf("sent per chat %v, want %v", per, want)
	}
}
