package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventstest"
)

// withNATS makes relais use a NATS server this test owns, so the test can read the
// campaigns bucket while relais runs.
func (r *campaignRig) withNATS() (jetstream.JetStream, events.Names) {
	r.t.Helper()
	srv, err := embedded.StartNATS(embedded.Options{Dir: r.t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	ns := eventstest.UniquePrefix()
	names, err := events.NewNames(ns)
	if err != nil {
		r.t.Fatal(err)
	}
	r.env = append(r.env, "NATS_URL="+srv.URL(), "RELAIS_NAMESPACE="+ns)
	return js, names
}

// A member's campaign message is held by Telegram's 429 (retry_after) when the member says
// "Ne plus me solliciter" to another campaign, objects (/stop) or asks for erasure (/oubli):
// when the hold ends, the message is not sent, the rest of the campaign is, and after an
// objection or erasure the campaigns bucket keeps nothing about the member but the
// do-not-contact marker (a keyed token, like the suppression list).
func TestCampaignHeldByA429IsWithheldAfterOptOut(t *testing.T) {
	const hold = 8 // seconds of retry_after: the bridge must write the marker within them
	for _, tc := range []struct {
		name   string
		reason string
	}{
		{"ne plus me solliciter", events.DoNotContactNoMore},
		{"stop", events.DoNotContactStop},
		{"oubli", events.DoNotContactErased},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each runs its own relais and servers
			r := newCampaignRig(t)
			js, names := r.withNATS()
			ctx := context.Background()
			p := r.start()
			r.conversation()
			r.quiet(p)
			target := r.reachable[3]
			tok := r.hasher.Member(events.Telegram, fmt.Sprint(target.ID))
			recipients := len(r.reachable) + 1 // the leaders of the organiser's two groups
			text := r.campaignText
			if tc.reason == events.DoNotContactNoMore {
				// A first campaign reaches her: she will answer it while the next is held.
				r.ask(p, "/mobiliser leaders\n"+r.campaignText)
				r.press(p, r.organiser, button(t, r.lastTo(r.organiser.ID), "/envoyer "))
				r.eventually(p, "the first campaign delivered", func() bool { return len(r.campaignMessages(r.campaignText)) == recipients })
				r.quiet(p)
				text = r.secondCampaignTxt
			}
			noMore := ""
			if tc.reason == events.DoNotContactNoMore {
				noMore = button(t, r.lastTo(target.ID), "/neplusmesolliciter ")
			}
			r.ask(p, "/mobiliser leaders\n"+text)
			send := button(t, r.lastTo(r.organiser.ID), "/envoyer ")
			r.bot.FailNextTo(target.ID, tgtest.TooManyRequests(hold))
			r.bot.Press(r.organiser, 1, send)
			var refusedAt time.Time
			r.eventually(p, "her message refused with a 429", func() bool {
				for _, f := range r.bot.Refusals() {
					if f.ChatID == target.ID {
						refusedAt = f.At
						return true
					}
				}
				return false
			})
			switch tc.reason {
			case events.DoNotContactNoMore:
				r.bot.Press(target, 1, noMore)
			case events.DoNotContactStop:
				r.bot.Text(r.group, target, "/stop")
			case events.DoNotContactErased:
				r.bot.Text(r.group, target, "/oubli")
			}
			kv, err := js.KeyValue(ctx, names.CampaignsBucket())
			if err != nil {
				t.Fatal(err)
			}
			r.eventually(p, "her do-not-contact marker", func() bool {
				dnc, err := events.DoNotContact(ctx, kv, tok)
				return err == nil && dnc == tc.reason
			})
			if late := time.Since(refusedAt); late >= hold*time.Second {
				t.Fatalf("the marker came %s after the 429, past its %d s hold: this run proves nothing", late, hold)
			}
			r.eventually(p, "the rest of the campaign delivered", func() bool { return len(r.campaignMessages(text)) == recipients-1 })
			time.Sleep(time.Second) // past the hold: her message had its turn
			r.quiet(p)
			if n := r.campaignMessages(text)[target.ID]; n != 0 {
				t.Fatalf("%s got the held campaign message %d times after %s\n%s", target.FirstName, n, tc.name, p.Logs())
			}
			if tc.reason != events.DoNotContactNoMore {
				keys, err := kv.ListKeys(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for k := range keys.Keys() {
					if strings.Contains(k, tok) && k != events.DoNotContactKey(tok) {
						t.Errorf("the campaigns bucket still holds %s after %s", k, tc.name)
					}
				}
				q, err := js.Stream(ctx, names.CampaignsStream())
				if err != nil {
					t.Fatal(err)
				}
				info, err := q.Info(ctx, jetstream.WithSubjectFilter(names.MemberCampaignFilter(tok)))
				if err != nil {
					t.Fatal(err)
				}
				if len(info.State.Subjects) != 0 {
					t.Errorf("the campaign queue still holds her messages: %v", info.State.Subjects)
				}
			}
			r.stop(p)
		})
	}
}
