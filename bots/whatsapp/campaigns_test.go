package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// clockedSender records when, on the replier's clock, each message went out.
type clockedSender struct {
	*fakeSender
	clock *fakeClock
	at    []time.Time
}

func (c *clockedSender) SendText(ctx context.Context, to types.JID, id types.MessageID, text string) error {
	if err := c.fakeSender.SendText(ctx, to, id, text); err != nil {
		return err
	}
	c.at = append(c.at, c.clock.Now())
	return nil
}

func campaignReply(slug string, i int, to types.JID) events.Reply {
	return events.Reply{V: 1, Platform: events.WhatsApp, Chat: to.String(), Private: true,
		ID:       fmt.Sprintf("campaign-%s-member%d", slug, i),
		Text:     "Samedi tractage au marché\n\nRépondez 1 (Je relaie), 2 (Pas cette fois) ou 3 (Ne plus me solliciter).",
		Campaign: &events.CampaignTarget{Slug: slug, Member: fmt.Sprintf("member%d", i)}}
}

// TestCampaignPacing: a campaign to five members goes out about three a minute (a turn every
// 20 s), each after a random pause; a redelivered recipient is not sent again; someone who
// never wrote first is never written to; the first rate limit stops every campaign message
// until the halt is over, and the refused recipient is sent to once it is.
func TestCampaignPacing(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	dl, err := events.OpenDeliveries(ctx, env.JS, env.Names, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv := dl.KV()
	if err := events.StartCounts(ctx, kv, "tract"); err != nil {
		t.Fatal(err)
	}
	known := knownSet{}
	var members []types.JID
	for i := range 7 {
		j := types.NewJID(fmt.Sprintf("3361000000%d", i), types.DefaultUserServer)
		members = append(members, j)
		known[j] = i != 5 // member 5 never wrote to the bot
	}
	r, fs, clock, outcomes := testReplier(DefaultThrottle(), known)
	send := &clockedSender{fakeSender: fs, clock: clock}
	r.send = send

	for i := range 5 {
		if err := r.Campaign(ctx, dl, campaignReply("tract", i, members[i]), 0); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	if len(send.at) != 5 {
		t.Fatalf("sent %d, want 5", len(send.at))
	}
	// Turns are 20 s apart; the jitter moves each send within 1-4 s after its turn.
	th := DefaultThrottle()
	floor := 20*time.Second - (th.MaxJitter - th.MinJitter)
	for i := 1; i < len(send.at); i++ {
		if gap := send.at[i].Sub(send.at[i-1]); gap < floor {
			t.Errorf("messages %d and %d went out %s apart, want at least %s", i-1, i, gap, floor)
		}
	}
	if span := send.at[4].Sub(send.at[0]); span < 4*20*time.Second-(th.MaxJitter-th.MinJitter) {
		t.Errorf("five messages went out within %s: more than three a minute", span)
	}
	for i, d := range clock.sleeps {
		if d < DefaultThrottle().MinJitter {
			t.Errorf("pause %d before a send was %s, under the jitter floor", i, d)
		}
	}
	// Redelivered (a crash before the ack): not sent again.
	if err := r.Campaign(ctx, dl, campaignReply("tract", 0, members[0]), 0); err != nil {
		t.Fatal(err)
	}
	// Never wrote first: refused, recorded as failed.
	if err := r.Campaign(ctx, dl, campaignReply("tract", 5, members[5]), 0); err != nil {
		t.Fatal(err)
	}
	if len(fs.texts()) != 5 || outcomes[outcomeRefusedUnknown] != 1 {
		t.Fatalf("sent %d, refused %d", len(fs.texts()), outcomes[outcomeRefusedUnknown])
	}
	if e, err := kv.Get(ctx, events.DeliveryKey("tract", "member5")); err != nil || string(e.Value()) != events.OutcomeFailed {
		t.Fatalf("member5's outcome: %v", err)
	}

	// A rate limit: campaigns stop.
	fs.err = fmt.Errorf("send: %w", whatsmeow.ErrIQRateOverLimit)
	err = r.Campaign(ctx, dl, campaignReply("tract", 6, members[6]), 0)
	if d, ok := events.RetryDelay(err); !ok || !errors.Is(err, errCampaignsHalted) || d < time.Hour {
		t.Fatalf("after a rate limit: %v", err)
	}
	fs.err = nil
	before := len(fs.texts())
	if err := r.Campaign(ctx, dl, campaignReply("tract", 6, members[6]), 0); !errors.Is(err, errCampaignsHalted) {
		t.Fatalf("during the halt: %v", err)
	}
	if len(fs.texts()) != before {
		t.Fatal("sent during the halt")
	}
	clock.advance(DefaultThrottle().CampaignHalt)
	if err := r.Campaign(ctx, dl, campaignReply("tract", 6, members[6]), 0); err != nil {
		t.Fatalf("after the halt: %v", err)
	}
	got := fs.texts()
	if len(got) != 6 || got[5].to != members[6] {
		t.Fatalf("sent %+v", got)
	}
	for i := range 7 {
		want := events.OutcomeSent
		if i == 5 {
			want = events.OutcomeFailed
		}
		e, err := kv.Get(ctx, events.DeliveryKey("tract", fmt.Sprintf("member%d", i)))
		if err != nil || string(e.Value()) != want {
			t.Errorf("member%d: %v, want %s", i, err, want)
		}
	}
	// The report's counters: each final outcome once; the redelivery and the recipient
	// released during the halt count nothing more.
	if c, _, err := events.ReadCounts(ctx, kv, "tract"); err != nil || c.Sent != 6 || c.Failed != 1 || c.Blocked+c.Withdrawn != 0 {
		t.Errorf("counts %+v (%v), want 6 sent and 1 failed", c, err)
	}
}

// TestCampaignAsksTheGateAtTheMomentOfSending: a member who objects, asks for erasure or
// says "Ne plus me solliciter" after their messages were queued gets none of them, whichever
// campaign they belong to: neither one held by the pacing when the marker is written, nor
// one put back by a halt, nor one not yet pulled. Nothing is recorded about an objector or
// an erased member afterwards.
func TestCampaignAsksTheGateAtTheMomentOfSending(t *testing.T) {
	for _, reason := range []string{events.DoNotContactStop, events.DoNotContactErased, events.DoNotContactNoMore} {
		t.Run(reason, func(t *testing.T) {
			env := eventstest.New(t)
			ctx := context.Background()
			dl, err := events.OpenDeliveries(ctx, env.JS, env.Names, nil)
			if err != nil {
				t.Fatal(err)
			}
			kv := dl.KV()
			alice := types.NewJID("33610000001", types.DefaultUserServer)
			bob := types.NewJID("33610000002", types.DefaultUserServer)
			r, fs, clock, _ := testReplier(DefaultThrottle(), knownSet{alice: true, bob: true})
			withheld := 0
			r.countCampaign = func(o string) {
				if o == "withheld" {
					withheld++
				}
			}
			// Bob's first message goes: the pacing now holds the next one for its turn.
			if err := r.Campaign(ctx, dl, campaignReply("tract", 2, bob), 0); err != nil {
				t.Fatal(err)
			}
			// Alice's message of one campaign is held by the pacing; she objects during
			// the wait (the marker is written while the adapter sleeps).
			aliceMsg := campaignReply("tract", 1, alice)
			aliceMsg.Campaign.Member = "alice"
			r.sleep = func(ctx context.Context, d time.Duration) error {
				if err := events.MarkDoNotContact(ctx, kv, "alice", reason); err != nil {
					return err
				}
				return clock.Sleep(ctx, d)
			}
			if err := r.Campaign(ctx, dl, aliceMsg, 0); err != nil {
				t.Fatal(err)
			}
			r.sleep = clock.Sleep
			// Her message of another campaign, pulled later.
			other := campaignReply("reunion", 1, alice)
			other.Campaign.Member = "alice"
			clock.advance(time.Minute)
			if err := r.Campaign(ctx, dl, other, 0); err != nil {
				t.Fatal(err)
			}
			for _, m := range fs.texts() {
				if m.to == alice {
					t.Fatalf("alice got a campaign message after %s", reason)
				}
			}
			if withheld != 2 {
				t.Errorf("withheld %d messages, want 2", withheld)
			}
			for _, slug := range []string{"tract", "reunion"} {
				if _, err := kv.Get(ctx, events.DeliveryKey(slug, "alice")); err == nil {
					t.Errorf("a delivery record of %s names alice after %s", slug, reason)
				}
			}
			// Bob, never marked, still gets the next campaign.
			if err := r.Campaign(ctx, dl, campaignReply("reunion", 2, bob), 0); err != nil {
				t.Fatal(err)
			}
			if n := len(fs.texts()); n != 2 {
				t.Fatalf("sent %d messages, want bob's two", n)
			}
		})
	}
}

// TestCampaignHeldByAHaltIsWithheldAfterStop: WhatsApp rate-limits the number while a
// member's message is out; the member objects during the six-hour halt; when campaigns
// resume the message is not sent and no record of it is left.
func TestCampaignHeldByAHaltIsWithheldAfterStop(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	dl, err := events.OpenDeliveries(ctx, env.JS, env.Names, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv := dl.KV()
	alice := types.NewJID("33610000001", types.DefaultUserServer)
	r, fs, clock, _ := testReplier(DefaultThrottle(), knownSet{alice: true})
	fs.err = fmt.Errorf("send: %w", whatsmeow.ErrIQRateOverLimit)
	if err := r.Campaign(ctx, dl, campaignReply("tract", 1, alice), 0); !errors.Is(err, errCampaignsHalted) {
		t.Fatalf("after a rate limit: %v", err)
	}
	fs.err = nil
	if e, err := kv.Get(ctx, events.DeliveryKey("tract", "member1")); err != nil || string(e.Value()) != events.OutcomeRetry {
		t.Fatalf("held message: %v", err)
	}
	// The bridge's /stop: the marker first, then the member's records go.
	if err := events.MarkDoNotContact(ctx, kv, "member1", events.DoNotContactStop); err != nil {
		t.Fatal(err)
	}
	if err := events.SecureDeleteKey(ctx, env.JS, env.Names.CampaignsBucket(), events.DeliveryKey("tract", "member1")); err != nil {
		t.Fatal(err)
	}
	clock.advance(DefaultThrottle().CampaignHalt)
	if err := r.Campaign(ctx, dl, campaignReply("tract", 1, alice), 0); err != nil {
		t.Fatalf("after the halt: %v", err)
	}
	if n := len(fs.texts()); n != 0 {
		t.Fatalf("sent %d messages to a member who objected", n)
	}
	if _, err := kv.Get(ctx, events.DeliveryKey("tract", "member1")); err == nil {
		t.Fatal("a delivery record names the objector again")
	}
}
