package events_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// TestDeliveriesAskTheMarkerAtEveryStep: whenever the bridge's do-not-contact marker lands
// (before the claim, between the claim and the send, between the send and its record), the
// message is not sent if it had not left, and no record about an objector or an erased
// member is left once the bridge's clean-up ran, whichever ran first. "Ne plus me
// solliciter" stops the sending but keeps a record already made, for the reports.
func TestDeliveriesAskTheMarkerAtEveryStep(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	dl, err := events.OpenDeliveries(ctx, env.JS, env.Names, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv := dl.KV()
	bucket := env.Names.CampaignsBucket()
	// cleanUp is what the bridge does after writing an objector's or erased member's marker.
	cleanUp := func(t *testing.T, member string) {
		t.Helper()
		if err := events.SecureDeleteKey(ctx, env.JS, bucket, events.DeliveryKey("c", member)); err != nil {
			t.Fatal(err)
		}
	}
	type step int
	const (
		beforeClaim step = iota
		beforeSend
		afterSendBeforeCleanUp // the record is written after the marker, before the clean-up
		afterSendAfterCleanUp  // the clean-up runs before the adapter writes its record
	)
	for _, tc := range []struct {
		name       string
		reason     string
		at         step
		wantSent   bool
		wantRecord bool
	}{
		{"stop before the claim", events.DoNotContactStop, beforeClaim, false, false},
		{"stop between claim and send", events.DoNotContactStop, beforeSend, false, false},
		{"stop while the request was out, record first", events.DoNotContactStop, afterSendBeforeCleanUp, true, false},
		{"stop while the request was out, clean-up first", events.DoNotContactStop, afterSendAfterCleanUp, true, false},
		{"erasure between claim and send", events.DoNotContactErased, beforeSend, false, false},
		{"erasure while the request was out", events.DoNotContactErased, afterSendBeforeCleanUp, true, false},
		{"no more calls between claim and send", events.DoNotContactNoMore, beforeSend, false, false},
		{"no more calls while the request was out", events.DoNotContactNoMore, afterSendBeforeCleanUp, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			member := "m" + string(rune('a'+tc.at)) + tc.reason
			mark := func() {
				if err := events.MarkDoNotContact(ctx, kv, member, tc.reason); err != nil {
					t.Fatal(err)
				}
			}
			if tc.at == beforeClaim {
				mark()
			}
			claim, err := dl.Claim(ctx, "c", member, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.at == beforeSend {
				mark()
			}
			sent := false
			if claim.OK {
				ok, err := dl.Confirm(ctx, &claim)
				if err != nil {
					t.Fatal(err)
				}
				sent = ok
			}
			if sent {
				switch tc.at {
				case afterSendBeforeCleanUp:
					mark()
				case afterSendAfterCleanUp:
					mark()
					cleanUp(t, member)
				}
				if _, err := dl.Settle(ctx, claim, events.OutcomeSent); err != nil {
					t.Fatal(err)
				}
				if tc.at == afterSendBeforeCleanUp && tc.reason != events.DoNotContactNoMore {
					cleanUp(t, member)
				}
			}
			if sent != tc.wantSent {
				t.Fatalf("sent = %v, want %v", sent, tc.wantSent)
			}
			_, err = kv.Get(ctx, events.DeliveryKey("c", member))
			if hasRecord := err == nil; hasRecord != tc.wantRecord {
				t.Fatalf("delivery record kept = %v (%v), want %v", hasRecord, err, tc.wantRecord)
			}
			// Nothing else of theirs either: the bucket's history has no message about them
			// but the marker.
			s, err := env.JS.Stream(ctx, "KV_"+bucket)
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx, jetstream.WithSubjectFilter("$KV."+bucket+".d.*."+member))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(info.State.Subjects); n != 0 && !tc.wantRecord {
				t.Fatalf("the bucket still holds %d subjects about the member", n)
			}
		})
	}
}

// TestMarkBlockedSkipsForgottenMembers: a bounce recorded after an objection is withdrawn.
func TestMarkBlockedSkipsForgottenMembers(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	dl, err := events.OpenDeliveries(ctx, env.JS, env.Names, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.MarkDoNotContact(ctx, dl.KV(), "gone", events.DoNotContactErased); err != nil {
		t.Fatal(err)
	}
	if err := dl.MarkBlocked(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := dl.KV().Get(ctx, events.ReachKey("gone")); err == nil {
		t.Fatal("reachability recorded about an erased member")
	}
	if err := dl.MarkBlocked(ctx, "here"); err != nil {
		t.Fatal(err)
	}
	if e, err := dl.KV().Get(ctx, events.ReachKey("here")); err != nil || string(e.Value()) != events.ReachBlocked {
		t.Fatalf("a bounce of a member not marked: %v", err)
	}
	for _, bad := range []string{"", "a.b", "x*"} {
		if err := events.MarkDoNotContact(ctx, dl.KV(), bad, events.DoNotContactStop); err == nil {
			t.Errorf("marker for token %q accepted", bad)
		}
	}
	if err := events.MarkDoNotContact(ctx, dl.KV(), "ok", "maybe"); err == nil {
		t.Error("marker with an unknown reason accepted")
	}
}

// TestConfirmWithholdsAPurgedMessage: the bridge purged a member's queued message when they
// objected, then a new /oui lifted their marker, while an adapter still held the message it
// had pulled: the message is not sent, and nothing is recorded or counted for it.
func TestConfirmWithholdsAPurgedMessage(t *testing.T) {
	env := eventstest.New(t)
	ctx := context.Background()
	dl, err := events.OpenDeliveries(ctx, env.JS, env.Names, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv := dl.KV()
	if err := events.StartCounts(ctx, kv, "c"); err != nil {
		t.Fatal(err)
	}
	queue := func(member string) uint64 {
		t.Helper()
		r := events.Reply{V: events.Version, Platform: events.Telegram, Chat: "42", Private: true, Text: "Samedi",
			Campaign: &events.CampaignTarget{Slug: "c", Member: member}}
		if err := env.Pub.QueueCampaign(ctx, r); err != nil {
			t.Fatal(err)
		}
		s, err := env.JS.Stream(ctx, env.Names.CampaignsStream())
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.GetLastMsgForSubject(ctx, env.Names.CampaignSubject(events.Telegram, member))
		if err != nil {
			t.Fatal(err)
		}
		return m.Sequence
	}
	purged, kept := queue("back"), queue("other")
	claim, err := dl.Claim(ctx, "c", "back", purged)
	if err != nil || !claim.OK {
		t.Fatalf("claim: %+v %v", claim, err)
	}
	s, err := env.JS.Stream(ctx, env.Names.CampaignsStream())
	if err != nil {
		t.Fatal(err)
	}
	if err := events.SecureDeleteSeq(ctx, s, purged); err != nil { // the bridge's purge at /stop
		t.Fatal(err)
	}
	if ok, err := dl.Confirm(ctx, &claim); err != nil || ok {
		t.Fatalf("confirm of a purged message: %v %v, want withheld", ok, err)
	}
	if _, err := kv.Get(ctx, events.DeliveryKey("c", "back")); err == nil {
		t.Error("a delivery record is left for a withheld message")
	}
	other, err := dl.Claim(ctx, "c", "other", kept)
	if err != nil || !other.OK {
		t.Fatalf("claim: %+v %v", other, err)
	}
	if ok, err := dl.Confirm(ctx, &other); err != nil || !ok {
		t.Fatalf("confirm of a queued message: %v %v", ok, err)
	}
	if _, err := dl.Settle(ctx, other, events.OutcomeSent); err != nil {
		t.Fatal(err)
	}
	c, _, err := events.ReadCounts(ctx, kv, "c")
	if err != nil || c.Sent != 1 || c.Withdrawn != 0 {
		t.Fatalf("counts %+v (%v), want the one sent", c, err)
	}
}
