package commands_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// TestLiveEqualsReplayWithObjectorsAndErasures runs a conversation in which one member
// objects (/stop) and another asks for erasure (/oubli), with late and post-objection
// events, then rebuilds the state from the log on an empty Redis: every member's card and the
// group's figures are the same as live.
//
// The rules both paths follow: an objector's events from before their /stop keep crediting
// the people they answered (and count in the group's days), later ones change nothing and
// leave the log; an erased member's events leave the log, their messages staying only as
// anonymous counts in the group's days, and their credits to others are withdrawn.
func TestLiveEqualsReplayWithObjectorsAndErasures(t *testing.T) {
	s := newStack(t, consent.PolicyNotice)
	ctx := context.Background()
	bob := events.Member{ID: "5550002", Name: "Bob Objecteur", Username: "bob_obj"}
	carol := events.Member{ID: "5550003", Name: "Carol Effacee", Username: "carol_eff"}
	s.publish(s.conversation(7)...)
	var evs []events.Event
	for d := 6; d >= 1; d-- {
		at := e2eNow.AddDate(0, 0, -d).Add(time.Hour)
		for _, who := range []events.Member{bob, carol} {
			e := s.event(events.KindMessage, who, at)
			e.ReplyTo = alice.ID // both answer Alice: credits for her
			evs = append(evs, e)
			e = s.event(events.KindMessage, who, at.Add(time.Minute))
			e.Mentions = []string{"@" + alice.Username}
			evs = append(evs, e)
		}
		for i := range 3 {
			e := s.event(events.KindMessage, replier(i), at.Add(2*time.Minute))
			e.ReplyTo = bob.ID
			evs = append(evs, e)
			e = s.event(events.KindMessage, replier(i), at.Add(3*time.Minute))
			e.ReplyTo = carol.ID
			evs = append(evs, e)
		}
	}
	s.publish(evs...)
	if c, found := s.card(alice); !found || c.People < 8 {
		t.Fatalf("Alice should be credited by Bob and Carol too: %+v", c)
	}

	// Bob objects; a message of his from before arrives late (it still credits Alice), and
	// one from after changes nothing.
	s.publish(s.command(bob, e2eGroup, "stop"))
	lateBefore := s.event(events.KindMessage, bob, e2eNow.Add(-2*time.Hour))
	lateBefore.ReplyTo = replier(5).ID
	after := s.event(events.KindMessage, bob, e2eNow.Add(-time.Second))
	after.ReplyTo = replier(4).ID
	s.publish(lateBefore, after)

	// Carol asks for erasure.
	s.publish(s.command(carol, nil, "oubli"))
	// The erasure runs off the batch loop; its last step is the erase change (she was synced).
	s.eventually(func() bool {
		c, found := s.lastChange(carol)
		return found && c.Op == events.OpErase
	})

	members := []events.Member{alice, bob, carol}
	for i := range 6 {
		members = append(members, replier(i))
	}
	snapshot := func(q *bridge.Query) (map[string]bridge.MemberCard, []bridge.GroupStats) {
		t.Helper()
		out := map[string]bridge.MemberCard{}
		for _, m := range members {
			c, _, err := q.Member(ctx, s.token(m))
			if err != nil {
				t.Fatal(err)
			}
			c.LastSeen, c.FirstSeen = c.LastSeen.UTC(), c.FirstSeen.UTC()
			out[m.Name] = c
		}
		gs, err := q.Groups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return out, gs
	}
	live, liveGroups := snapshot(s.bridge.Query())
	if live[bob.Name].Token != "" || live[carol.Name].Token != "" {
		t.Fatalf("objector or erased member still shown: %+v %+v", live[bob.Name], live[carol.Name])
	}
	if got := live[replier(5).Name].People; got != 1 {
		t.Errorf("replier 5 credited by %d people, want 1: Bob's late event from before his /stop counts", got)
	}
	if got := live[replier(4).Name].People; got != 0 {
		t.Errorf("replier 4 credited by %d people, want 0: Bob's event after his /stop changes nothing", got)
	}

	rdb2, prefix2 := bridgetest.Redis(t)
	b2 := s.newBridge(rdb2, prefix2, nil)
	if err := b2.Replay(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	replayed, replayedGroups := snapshot(b2.Query())
	for _, m := range members {
		if !reflect.DeepEqual(live[m.Name], replayed[m.Name]) {
			t.Errorf("%s: live %+v\n replay %+v", m.Name, live[m.Name], replayed[m.Name])
		}
	}
	if !reflect.DeepEqual(liveGroups, replayedGroups) {
		t.Errorf("groups: live %+v\n replay %+v", liveGroups, replayedGroups)
	}
	if live[alice.Name].People == 0 || live[replier(0).Name].Messages == 0 {
		t.Fatal("nothing to compare: the test proves nothing")
	}
	s.checkLogs()
}
