package bridge

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/events"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// activeBurst makes member id active on the day offset (10 messages on 3 days).
func activeBurst(g *gen, id string, offset int) []events.Event {
	var evs []events.Event
	for d, n := range map[int]int{offset - 2: 4, offset - 1: 3, offset: 3} {
		for i := range n {
			evs = append(evs, g.ev(events.KindMessage, id, dayAt(d, i)))
		}
	}
	return evs
}

func (r *rig) lastContact(member string) (events.ContactChange, bool) {
	r.t.Helper()
	b := r.bridge()
	last, err := b.lastChange(context.Background(), member)
	if err != nil {
		r.t.Fatal(err)
	}
	return last.c, last.found
}

// TestSweepDemotesQuietMember: an active member who goes quiet becomes relais-inactif with no
// new event, and the CRM hears about it.
func TestSweepDemotesQuietMember(t *testing.T) {
	r := newRig(t)
	clk := &clock{t: testNow}
	r.cfg.Now = clk.now
	b := r.bridge()
	g := newGen()
	burst := activeBurst(g, "1", 0)
	if _, err := b.applyEvents(t.Context(), burst, streamPositions(burst), true); err != nil {
		t.Fatal(err)
	}
	tok := b.token("1")
	c, ok := r.lastContact(tok)
	if !ok || !slices.Contains(c.Tags, "relais-actif") {
		t.Fatalf("after the burst: %+v (found %v)", c, ok)
	}
	clk.set(testNow.AddDate(0, 0, 20))
	if err := b.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c2, _ := r.lastContact(tok); c2.ID != c.ID {
		t.Fatalf("20 days on, still in the window: nothing should change, got %+v", c2)
	}
	clk.set(testNow.AddDate(0, 0, 40))
	if err := b.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, _ = r.lastContact(tok)
	if !slices.Contains(c.Tags, "relais-inactif") || slices.Contains(c.Tags, "relais-actif") || !slices.Contains(c.RemoveTags, "relais-actif") {
		t.Fatalf("40 days on: tags %v remove %v", c.Tags, c.RemoveTags)
	}
	if got := activityTags(card(t, b, "1")); !slices.Equal(got, []string{"inactif"}) {
		t.Fatalf("card tags %v", got)
	}
	// Nothing left to move: a further sweep publishes nothing.
	seq := r.env.StreamMsgs(t, r.env.Names.CRMStream())
	if err := b.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r.env.StreamMsgs(t, r.env.Names.CRMStream()) != seq {
		t.Fatal("an idle sweep published")
	}
}

// consentStub decides per member token.
type consentStub struct {
	optedIn, suppressed map[string]bool
	policy              string
}

func (c consentStub) Decide(_ context.Context, m, _ string) (ConsentDecision, error) {
	return ConsentDecision{OptedIn: c.optedIn[m], Suppressed: c.suppressed[m], Policy: c.policy}, nil
}

func TestSyncPolicies(t *testing.T) {
	h := testHasher(t)
	opted, quiet, stopped, active := h.Member(events.Telegram, "10"), h.Member(events.Telegram, "11"),
		h.Member(events.Telegram, "12"), h.Member(events.Telegram, "13")
	cases := []struct {
		policy string
		want   map[string]bool // member → reaches the CRM
	}{
		{PolicyOptIn, map[string]bool{opted: true}},
		{PolicyNotice, map[string]bool{opted: true, active: true}},
	}
	for _, tc := range cases {
		t.Run(tc.policy, func(t *testing.T) {
			r := newRig(t)
			consent := consentStub{optedIn: map[string]bool{opted: true}, suppressed: map[string]bool{stopped: true}, policy: tc.policy}
			b, err := New(r.cfg, r.rdb, r.env.JS, r.env.Pub, consent, nil)
			if err != nil {
				t.Fatal(err)
			}
			g := newGen()
			evs := []events.Event{g.ev(events.KindMessage, "10", dayAt(0, 0)), g.ev(events.KindMessage, "11", dayAt(0, 1))}
			evs = append(evs, activeBurst(g, "12", 0)...)
			evs = append(evs, activeBurst(g, "13", 0)...)
			reply := g.ev(events.KindMessage, "13", dayAt(0, 50))
			reply.ReplyTo = "12" // crediting an objector records nothing for them
			evs = append(evs, reply)
			if _, err := b.applyEvents(t.Context(), evs, streamPositions(evs), true); err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{opted, quiet, stopped, active} {
				_, found := r.lastContact(m)
				if found != tc.want[m] {
					t.Errorf("member %s reached the CRM: %v, want %v", m, found, tc.want[m])
				}
			}
			if _, ok, _ := b.Query().Member(t.Context(), stopped); ok {
				t.Error("a suppressed member has state")
			}
		})
	}
}

func TestEraseAndResync(t *testing.T) {
	r := newRig(t)
	consent := &consentStub{optedIn: map[string]bool{}, policy: PolicyOptIn}
	b, err := New(r.cfg, r.rdb, r.env.JS, r.env.Pub, consent, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := newGen()
	evs := activeBurst(g, "1", 0)
	other := g.ev(events.KindMessage, "2", dayAt(0, 99))
	other.ReplyTo = "1"
	back := g.ev(events.KindMessage, "1", dayAt(0, 100))
	back.ReplyTo = "2"
	react := g.ev(events.KindReaction, "2", dayAt(0, 101))
	react.Target = messageID(evs[0].ID)
	evs = append(evs, other, back, react)
	if _, err := b.applyEvents(t.Context(), evs, streamPositions(evs), true); err != nil {
		t.Fatal(err)
	}
	tok := b.token("1")
	if _, found := r.lastContact(tok); found {
		t.Fatal("opt-in: published before the member said yes")
	}
	consent.optedIn[tok] = true // /oui
	if err := b.Resync(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	c, found := r.lastContact(tok)
	if !found || c.Name != "Member 1" || !slices.Contains(c.Tags, "relais-actif") || c.Handles[0].ID != "1" {
		t.Fatalf("after resync: %+v", c)
	}

	if err := b.Erase(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := b.EraseContact(t.Context(), tok, true, nil); err != nil {
		t.Fatal(err)
	}
	c, _ = r.lastContact(tok)
	if c.Op != events.OpErase {
		t.Fatalf("after erase: %+v", c)
	}
	if where := holding(t, r, tok); len(where) > 0 {
		t.Fatalf("Redis still holds the erased token in %v", where)
	}
	if c := card(t, b, "2"); c.Messages != 1 {
		t.Fatalf("the other member lost their own messages: %+v", c)
	}
	q := b.Query()
	if _, ok, _ := q.Member(t.Context(), tok); ok {
		t.Fatal("erased member still has a card")
	}
	gs, _ := q.Groups(t.Context())
	if len(gs) != 1 || gs[0].MembersSeen != 1 || gs[0].Active7 != 1 {
		t.Fatalf("group after erase: %+v", gs)
	}
	top, _ := q.TopActive(t.Context(), 5)
	for _, m := range top {
		if m.Token == tok {
			t.Fatal("erased member still ranked")
		}
	}
	if err := b.Erase(t.Context(), tok); err != nil { // twice: nothing more
		t.Fatal(err)
	}
}

// TestRedisOutageRetries: with Redis down, events are redelivered, never dead-lettered,
// and apply once it is back.
func TestRedisOutageRetries(t *testing.T) {
	r := newRig(t)
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r.rdb = redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer r.rdb.Close()
	b := r.bridge()
	b.settler.BaseDelay, b.settler.MaxDelay = 50*time.Millisecond, 200*time.Millisecond

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	time.Sleep(200 * time.Millisecond) // scripts loaded, consumer up
	m.Close()

	g := newGen()
	evs := activeBurst(g, "1", 0)
	for _, ev := range evs {
		if _, err := r.env.Pub.Event(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := r.env.JS.Consumer(t.Context(), r.env.Names.EventsStream(), r.env.Names.BridgeConsumer())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redeliveries", func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumRedelivered > 0
	})
	if n := r.env.StreamMsgs(t, r.env.Names.DLQStream()); n != 0 {
		t.Fatalf("%d events dead-lettered during an outage", n)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "events applied", func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := card(t, b, "1"); c.Messages != len(evs) {
		t.Fatalf("after the outage: %d messages, want %d", c.Messages, len(evs))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type commandsStub struct {
	mu  sync.Mutex
	got []events.Event
}

func (c *commandsStub) Handle(_ context.Context, ev events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, ev)
	if ev.Command != nil && ev.Command.Name == "casse" {
		return events.Permanent(errors.New("unknown command"))
	}
	return nil
}

// TestCommandsAreNotActivity: commands and consent events go to the handler, count as no
// message, and a handler's permanent error dead-letters the event.
func TestCommandsAreNotActivity(t *testing.T) {
	r := newRig(t)
	cmds := &commandsStub{}
	b, err := New(r.cfg, r.rdb, r.env.JS, r.env.Pub, nil, cmds)
	if err != nil {
		t.Fatal(err)
	}
	g := newGen()
	msg := g.ev(events.KindMessage, "1", dayAt(0, 0))
	stats := g.ev(events.KindCommand, "1", dayAt(0, 1))
	stats.Command = &events.Command{Name: "stats"}
	broken := g.ev(events.KindCommand, "1", dayAt(0, 2))
	broken.Command = &events.Command{Name: "casse"}
	oui := g.ev(events.KindConsent, "1", dayAt(0, 3))
	future := g.ev(events.KindMessage, "1", testNow.Add(48*time.Hour))
	for _, ev := range []events.Event{msg, stats, broken, oui, future} {
		if _, err := r.env.Pub.Event(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	waitFor(t, "dead letters", func() bool { return r.env.StreamMsgs(t, r.env.Names.DLQStream()) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(cmds.got) != 3 {
		t.Fatalf("handler got %d events, want 3", len(cmds.got))
	}
	if c := card(t, b, "1"); c.Messages != 1 {
		t.Fatalf("commands counted as messages: %d", c.Messages)
	}
}

// TestMigrationAndSearch: a migrated Telegram group is one group with both histories, and
// searches ignore case and accents.
func TestMigrationAndSearch(t *testing.T) {
	b := stateBridge(t, nil)
	g := newGen()
	g.group = events.Group{ID: "-42", Title: "Équipe Écoles Nord"}
	before := []events.Event{g.ev(events.KindMessage, "1", dayAt(-1, 0)), g.ev(events.KindMessage, "2", dayAt(-1, 1))}
	g.group = events.Group{ID: "-10042", Title: "Équipe Écoles Nord", MigratedFrom: "-42"}
	first := g.ev(events.KindMessage, "3", dayAt(0, 0))
	g.group.MigratedFrom = ""
	apply(t, b, append(before, first, g.ev(events.KindMessage, "1", dayAt(0, 1)))...)

	q := b.Query()
	gs, err := q.Groups(t.Context())
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups: %+v %v", gs, err)
	}
	if s := gs[0]; s.MembersSeen != 3 || s.Active7 != 3 || s.MessagesPerDay[12] != 2 || s.MessagesPerDay[13] != 2 {
		t.Fatalf("merged group: %+v", s)
	}
	old := b.hash.Group(events.Telegram, "-42")
	if s, ok, _ := q.Group(t.Context(), old); !ok || s.Token != gs[0].Token {
		t.Fatalf("old token does not find the new group: %+v", s)
	}
	if found, _ := q.FindGroup(t.Context(), "ecoles"); len(found) != 1 {
		t.Fatalf("FindGroup ecoles: %v", found)
	}
	if found, _ := q.FindMembers(t.Context(), "@USER2", nil); len(found) != 1 || found[0].Username != "user2" {
		t.Fatalf("FindMembers @USER2: %+v", found)
	}
	if found, _ := q.FindMembers(t.Context(), "mémber", nil); len(found) != 3 {
		t.Fatalf("FindMembers mémber: %d found", len(found))
	}
	if c := card(t, b, "1"); !slices.Contains(c.Tags, "relais-groupe-equipe-ecoles-nord") || len(c.Groups) != 1 {
		t.Fatalf("card: %+v", c)
	}
}

// TestEventTimeWindows: the window is counted in event time, whatever the clock says when the
// events are processed.
func TestEventTimeWindows(t *testing.T) {
	t.Run("40 days old", func(t *testing.T) {
		b := stateBridge(t, nil)
		apply(t, b, activeBurst(newGen(), "1", -40)...)
		if c := card(t, b, "1"); slices.Contains(c.Tags, "relais-actif") || c.Messages != 0 {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("same events, processed back then and now", func(t *testing.T) {
		clk := &clock{t: testNow.AddDate(0, 0, -40)}
		b := stateBridge(t, func(c *Config) { c.Now = clk.now })
		apply(t, b, activeBurst(newGen(), "1", -40)...)
		if c := card(t, b, "1"); !slices.Contains(c.Tags, "relais-actif") {
			t.Fatalf("back then: %+v", c)
		}
		clk.set(testNow)
		if err := b.Sweep(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := activityTags(card(t, b, "1")); !slices.Equal(got, []string{"inactif"}) {
			t.Fatalf("now: %v", got)
		}
	})
	t.Run("30 messages on one day", func(t *testing.T) {
		b := stateBridge(t, nil)
		var evs []events.Event
		g := newGen()
		for i := range 30 {
			evs = append(evs, g.ev(events.KindMessage, "1", dayAt(0, i)))
		}
		apply(t, b, evs...)
		if c := card(t, b, "1"); len(activityTags(c)) != 0 || c.Messages != 30 || c.ActiveDays != 1 {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("nine replies from three people", func(t *testing.T) {
		b := stateBridge(t, nil)
		var evs []events.Event
		g := newGen()
		for i := range 9 {
			e := g.ev(events.KindMessage, []string{"a", "b", "c"}[i%3], dayAt(-i, 0))
			e.ReplyTo = "1"
			evs = append(evs, e)
		}
		evs = append(evs, g.ev(events.KindMessage, "1", dayAt(0, 0)))
		apply(t, b, evs...)
		if c := card(t, b, "1"); len(activityTags(c)) != 0 || c.People != 3 || c.RepliesReceived != 9 {
			t.Fatalf("%+v", c)
		}
	})
}

// holding lists the keys of the rig's prefix whose name or content mentions token.
func holding(t *testing.T, r *rig, token string) []string {
	t.Helper()
	ctx := t.Context()
	var where []string
	iter := r.rdb.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		var content []string
		switch r.rdb.Type(ctx, k).Val() {
		case "hash":
			for f, v := range r.rdb.HGetAll(ctx, k).Val() {
				content = append(content, f, v)
			}
		case "set":
			content = r.rdb.SMembers(ctx, k).Val()
		case "zset":
			content = r.rdb.ZRange(ctx, k, 0, -1).Val()
		case "string":
			content = []string{r.rdb.Get(ctx, k).Val()}
		case "list":
			content = r.rdb.LRange(ctx, k, 0, -1).Val()
		}
		if strings.Contains(k, token) || slices.ContainsFunc(content, func(s string) bool { return strings.Contains(s, token) }) {
			where = append(where, k)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return where
}

// TestFindMembersKeepsBeforeItsBound: a scoped search (an organiser of one group) finds its
// member among more party-wide matches than a search returns.
func TestFindMembersKeepsBeforeItsBound(t *testing.T) {
	b := stateBridge(t, nil)
	g := newGen()
	var evs []events.Event
	for i := range maxFound + 10 {
		evs = append(evs, g.ev(events.KindMessage, strconv.Itoa(100+i), dayAt(0, i)))
	}
	g.group = events.Group{ID: "-2002", Title: "Quartier Nord"}
	evs = append(evs, g.ev(events.KindMessage, "999", dayAt(0, 0)))
	apply(t, b, evs...)
	nord := b.hash.Group(events.Telegram, "-2002")
	inNord := func(c MemberCard) bool {
		return slices.ContainsFunc(c.InGroups, func(r GroupRef) bool { return r.Token == nord })
	}
	q := b.Query()
	if all, err := q.FindMembers(t.Context(), "member", nil); err != nil || len(all) != maxFound {
		t.Fatalf("unscoped search: %d found, %v; want the bound %d", len(all), err, maxFound)
	}
	found, err := q.FindMembers(t.Context(), "member", inNord)
	if err != nil || len(found) != 1 || found[0].Name != "Member 999" {
		t.Fatalf("scoped search: %+v, %v; want Member 999 alone", found, err)
	}
}

// TestRebuildStillUpdatesContactsInTheCRM: a rebuild into an empty Redis (the embedded default
// at every start) still knows who relais put in the CRM, so a member who went quiet meanwhile
// gets relais-inactif there, although they no longer qualify to be synced.
func TestRebuildStillUpdatesContactsInTheCRM(t *testing.T) {
	r := newRig(t)
	clk := &clock{t: testNow}
	r.cfg.Now = clk.now
	g := newGen()
	burst := activeBurst(g, "1", 0)
	r.publish(burst)
	b := r.bridge()
	if _, err := b.applyEvents(t.Context(), burst, streamPositions(burst), true); err != nil {
		t.Fatal(err)
	}
	tok := b.token("1")
	if c, ok := r.lastContact(tok); !ok || !slices.Contains(c.Tags, "relais-actif") {
		t.Fatalf("after the burst: %+v (found %v)", c, ok)
	}

	r.rdb, r.prefix = bridgetest.Redis(t)
	r.cfg.KeyPrefix = r.prefix
	clk.set(testNow.AddDate(0, 0, 40))
	if err := r.bridge().Replay(t.Context(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	c, _ := r.lastContact(tok)
	if !slices.Contains(c.Tags, "relais-inactif") || slices.Contains(c.Tags, "relais-actif") || !slices.Contains(c.RemoveTags, "relais-actif") {
		t.Fatalf("rebuilt 40 days on: tags %v remove %v, want relais-inactif in place of relais-actif", c.Tags, c.RemoveTags)
	}
}

// TestEraseWhileSettlingLeavesNothing: an erasure that lands while a member's contact change is
// being decided (the settle runs behind the Redis writes) neither brings their state back
// into Redis nor puts them in the CRM.
func TestEraseWhileSettlingLeavesNothing(t *testing.T) {
	r := newRig(t)
	b := r.bridge()
	burst := activeBurst(newGen(), "1", 0)
	if _, err := b.applyEvents(t.Context(), burst, streamPositions(burst), false); err != nil {
		t.Fatal(err)
	}
	tok := b.token("1")
	states, err := b.evaluate(t.Context(), []string{tok})
	if err != nil {
		t.Fatal(err)
	}
	if states[0].Applied < 0 || states[0].Bits&bitActive == 0 {
		t.Fatalf("before the erasure: %+v, want an active member", states[0])
	}
	if err := b.Erase(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := b.settleAll(t.Context(), states, false); err != nil {
		t.Fatal(err)
	}
	if c, found := r.lastContact(tok); found {
		t.Errorf("erased member put in the CRM: %+v", c)
	}
	if leaks := holding(t, r, tok); len(leaks) > 0 {
		t.Errorf("Redis holds the erased member's token in %v", leaks)
	}
}

// TestEventsWaitForTheirContactChanges: an event is acked only once the contact change it
// causes is stored. While RELAIS_CRM cannot take it, the batch is applied to Redis but its
// events stay unacked and come back; once RELAIS_CRM is there again they are settled and the
// contact change is stored.
func TestEventsWaitForTheirContactChanges(t *testing.T) {
	r := newRig(t)
	ctx := t.Context()
	burst := activeBurst(newGen(), "1", 0)
	r.publish(burst)
	if err := r.env.JS.DeleteStream(ctx, r.env.Names.CRMStream()); err != nil {
		t.Fatal(err)
	}
	b := r.bridge()
	tok := b.token("1")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	consumer := func() *jetstream.ConsumerInfo {
		t.Helper()
		cons, err := r.env.JS.Consumer(ctx, r.env.Names.EventsStream(), r.env.Names.BridgeConsumer())
		if err != nil {
			return nil
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return nil
		}
		return info
	}
	waitFor(t, "the burst applied to Redis", func() bool {
		_, found, err := b.Query().Member(ctx, tok)
		return err == nil && found
	})
	waitFor(t, "the burst sent back for redelivery", func() bool {
		info := consumer()
		return info != nil && info.NumRedelivered > 0
	})
	s, err := r.env.JS.Stream(ctx, r.env.Names.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq
	if info := consumer(); info == nil || info.AckFloor.Stream >= last {
		t.Fatalf("events acked while their contact change could not be stored: %+v", info)
	}

	if err := events.Setup(ctx, r.env.JS, r.env.Names, r.env.Limits); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every event acked", func() bool {
		info := consumer()
		return info != nil && info.AckFloor.Stream >= last && info.NumAckPending == 0
	})
	if c, found := r.lastContact(tok); !found || !slices.Contains(c.Tags, "relais-actif") {
		t.Fatalf("after RELAIS_CRM came back: %+v (found %v), want relais-actif", c, found)
	}
}
