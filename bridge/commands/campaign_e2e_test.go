package commands_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/events"
)

var campaignOrganiser = events.Member{ID: "710010701", Name: "Odile Orga"}

// queued reads the campaign messages waiting on the work queue (without taking them).
func (s *stack) queued() []events.Reply { return campaignQueue(s.t, s.env) }

func (s *stack) privateCommand(from events.Member, name string, args ...string) events.Event {
	ev := s.command(from, nil, name)
	if len(args) > 0 {
		ev.Command.Args = args
	}
	return ev
}

// The campaign loop over the real bridge: a leader who said yes and wrote privately is
// queued once (a retried confirmation queues nobody twice); their "Je relaie" puts the
// campaign tag in their desired CRM state; "Ne plus me solliciter" keeps them out of the
// next campaign's queue.
func TestCampaignLoopOverTheBridge(t *testing.T) {
	s := newStack(t, "opt-in")
	ctx := context.Background()
	if err := s.h.EnableCampaigns(ctx, commands.CampaignConfig{MaxPerWeek: 2, Audience: s.bridge.Query()}); err != nil {
		t.Fatal(err)
	}
	s.publish(s.conversation(3)...)
	s.publish(s.command(alice, e2eGroup, "oui"), s.privateCommand(alice, "start"))
	mobilise := s.privateCommand(campaignOrganiser, "mobiliser", "leaders\nSamedi tractage au marché")
	s.publish(mobilise)
	s.eventually(func() bool { return s.draft() != "" })
	slug := s.draft()
	confirm := s.privateCommand(campaignOrganiser, "envoyer", slug)
	s.publish(confirm)
	s.eventually(func() bool { return len(s.queued()) == 1 })
	// A redelivered confirmation (new event id, same campaign) queues nobody again.
	s.publish(s.privateCommand(campaignOrganiser, "envoyer", slug))
	q := s.queued()
	if len(q) != 1 || q[0].Chat != alice.ID || q[0].Campaign == nil || q[0].Campaign.Slug != slug || !q[0].Private {
		t.Fatalf("queued %+v, want one private message to alice", q)
	}
	if len(q[0].Buttons) != 3 || !strings.Contains(q[0].Text, "Samedi tractage") {
		t.Fatalf("campaign message %+v", q[0])
	}
	// What the adapter does: claim, send, settle.
	dl, err := events.OpenDeliveries(ctx, s.env.JS, s.env.Names, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv := dl.KV()
	member := q[0].Campaign.Member
	claim, err := dl.Claim(ctx, slug, member, 0)
	if err != nil || !claim.OK {
		t.Fatalf("claim: %+v %v", claim, err)
	}
	if again, _ := dl.Claim(ctx, slug, member, 0); again.OK {
		t.Fatal("claimed twice")
	}
	if ok, err := dl.Confirm(ctx, &claim); err != nil || !ok {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	if stands, err := dl.Settle(ctx, claim, events.OutcomeSent); err != nil || !stands {
		t.Fatalf("settle: %v %v", stands, err)
	}
	s.publish(s.privateCommand(alice, "jerelaie", slug))
	tag := "relais-campagne-" + slug
	s.eventually(func() bool {
		c, ok := s.lastChange(alice)
		return ok && slices.Contains(c.Tags, tag)
	})
	// The organiser's digest reports the week's campaign, with counts and no names.
	s.publish(s.privateCommand(campaignOrganiser, "bilan"))
	var digest string
	s.eventually(func() bool {
		for _, r := range s.replies() {
			if r.Chat == campaignOrganiser.ID && strings.Contains(r.Text, "Campagnes de la semaine") {
				digest = r.Text
				return true
			}
		}
		return false
	})
	if !strings.Contains(digest, slug+" (") || !strings.Contains(digest, "envoyés 1") || !strings.Contains(digest, "je relaie 1") {
		t.Errorf("the digest's campaign section lacks this campaign's counts:\n%s", digest)
	}
	// "Ne plus me solliciter": her message still in the queue goes (the adapter would
	// withhold it by her marker anyway), and the next campaign queues nothing for her.
	s.publish(s.privateCommand(alice, "neplusmesolliciter"))
	s.eventually(func() bool { return len(s.queued()) == 0 })
	if dnc, err := events.DoNotContact(ctx, kv, member); err != nil || dnc != events.DoNotContactNoMore {
		t.Fatalf("do-not-contact marker after opting out of campaigns: %q %v", dnc, err)
	}
	s.publish(s.privateCommand(campaignOrganiser, "mobiliser", "leaders\nRéunion jeudi"))
	s.eventually(func() bool { return s.draft() != slug })
	s.publish(s.privateCommand(campaignOrganiser, "envoyer"))
	time.Sleep(200 * time.Millisecond)
	if n := len(s.queued()); n != 0 {
		t.Fatalf("%d messages queued after the second campaign, want none (alice opted out)", n)
	}
	c, _ := s.lastChange(alice)
	if !slices.Contains(c.Tags, tag) {
		t.Fatalf("the campaign tag went away after opting out of campaigns: %v", c.Tags)
	}
	// An objection forgets what campaigns hold about her: queued message, reachability,
	// week count, answer, delivery record.
	s.publish(s.command(alice, e2eGroup, "stop"))
	tok := s.token(alice)
	s.eventually(func() bool {
		dnc, err := events.DoNotContact(ctx, kv, tok)
		_, gone := kv.Get(ctx, events.DeliveryKey(slug, tok))
		return err == nil && dnc == events.DoNotContactStop && errors.Is(gone, jetstream.ErrKeyNotFound)
	})
	for _, k := range []string{events.ReachKey(tok), events.WeekKey(tok), events.LastCampaignKey(tok),
		events.AnswerKey(slug, tok), events.DeliveryKey(slug, tok)} {
		if _, err := kv.Get(ctx, k); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("%s after /stop: %v", k, err)
		}
	}
	// What the campaign counted stays: she was sent it, nothing is left in the queue, and
	// her last answer counts; she is no longer named.
	detail := s.organiserAnswer("campagne", slug)
	for _, want := range []string{"Envoyés : 1 · en file : 0 ·", "Réponses : je relaie 0 · pas cette fois 0 · ne plus solliciter 1"} {
		if !strings.Contains(detail, want) {
			t.Errorf("/campagne after the recipient's /stop lacks %q:\n%s", want, detail)
		}
	}
	if strings.Contains(detail, alice.Name) {
		t.Errorf("/campagne names the objector:\n%s", detail)
	}
	// The next preview counts her among the leaders asked for, as objected.
	if preview := s.organiserAnswer("mobiliser", "leaders\nRéunion vendredi"); !strings.Contains(preview, "opposés (non contactés) : 1") ||
		!strings.Contains(preview, "joignables maintenant : 0") {
		t.Errorf("the preview after a leader's /stop:\n%s", preview)
	}
}

// organiserAnswer publishes the campaign organiser's private command and returns the answer.
func (s *stack) organiserAnswer(name string, args ...string) string {
	s.t.Helper()
	before := 0
	for _, r := range s.replies() {
		if r.Chat == campaignOrganiser.ID {
			before++
		}
	}
	s.publish(s.privateCommand(campaignOrganiser, name, args...))
	var got string
	s.eventually(func() bool {
		n := 0
		for _, r := range s.replies() {
			if r.Chat == campaignOrganiser.ID {
				if n++; n > before {
					got = r.Text
					return true
				}
			}
		}
		return false
	})
	return got
}

// draft is the organiser's latest campaign slug.
func (s *stack) draft() string {
	kv, err := s.env.JS.KeyValue(context.Background(), s.env.Names.CampaignsBucket())
	if err != nil {
		s.t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), events.DraftKey(s.env.Hasher.Member(events.Telegram, campaignOrganiser.ID)))
	if err != nil {
		if err == jetstream.ErrKeyNotFound {
			return ""
		}
		s.t.Fatal(err)
	}
	return string(e.Value())
}
