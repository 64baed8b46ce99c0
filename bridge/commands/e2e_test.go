package commands_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// stack is the bridge core, the consent store and the command handler wired as in
// cmd/relais, on the test's NATS and Redis, with the bridge consuming the event stream.
type stack struct {
	t      *testing.T
	env    *eventstest.Env
	rdb    redis.UniversalClient
	prefix string
	store  *consent.Store
	bridge *bridge.Bridge
	h      *commands.Handler
	logs   *syncBuffer
	log    *slog.Logger
	policy string
	n      int
	// foreground: the bridge gets a handler without Background, so every command is
	// answered in the batch loop (set it in newStackWith's before).
	foreground bool
}

// e2eNow is the clock of the stack; events happen in the days before it.
var e2eNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// late breaks the construction cycle: the bridge takes the command handler, the handler
// takes the bridge.
type late struct{ h *commands.Handler }

func (l *late) Handle(ctx context.Context, ev events.Event) error { return l.h.Handle(ctx, ev) }

// Background answers organisers' queries off the batch loop, as relais does.
func (l *late) Background(ev events.Event) bool { return l.h.Background(ev) }

// inLoop is late without Background: the bridge answers every command in its batch loop.
type inLoop struct{ l *late }

func (f inLoop) Handle(ctx context.Context, ev events.Event) error { return f.l.Handle(ctx, ev) }

func newStack(t *testing.T, policy string) *stack { return newStackWith(t, policy, nil, nil, nil) }

// newStackWith builds a stack whose Redis client gets hook (nil: none), whose log first gets
// what before publishes, and whose bridge runs with run (nil: Run).
func newStackWith(t *testing.T, policy string, hook redis.Hook, before func(*stack), run func(*bridge.Bridge, context.Context) error) *stack {
	t.Helper()
	s := &stack{t: t, env: eventstest.New(t), logs: &syncBuffer{}, policy: policy}
	if before != nil {
		before(s)
	}
	s.log = slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.rdb, s.prefix = bridgetest.Redis(t)
	if hook != nil {
		s.rdb.AddHook(hook)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if s.store, err = consent.New(ctx, s.env.JS, s.env.Names, policy, consent.WithLogger(s.log)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.store.Close() })
	fwd := &late{}
	var handler bridge.CommandHandler = fwd
	if s.foreground {
		handler = inLoop{fwd}
	}
	s.bridge = s.newBridge(s.rdb, s.prefix, handler)
	orgs, err := commands.ParseOrganisers(organisersEnv)
	if err != nil {
		t.Fatal(err)
	}
	s.h, err = commands.New(commands.Config{Lang: "fr", Organisers: orgs, Admins: orgs, Log: s.log, Now: func() time.Time { return e2eNow },
		Rebuilding: s.bridge.Rebuilding},
		s.env.Pub, s.env.Hasher, s.env.JS, s.env.Names, s.bridge.Query(), s.bridge, nil, s.store)
	if err != nil {
		t.Fatal(err)
	}
	fwd.h = s.h
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if run == nil {
		run = (*bridge.Bridge).Run
	}
	go func() { done <- run(s.bridge, runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("bridge run: %v", err)
		}
	})
	return s
}

func (s *stack) newBridge(rdb redis.UniversalClient, prefix string, h bridge.CommandHandler) *bridge.Bridge {
	s.t.Helper()
	b, err := bridge.New(bridge.Config{KeyPrefix: prefix, Policy: s.policy, Log: s.log, SweepEvery: time.Hour,
		Now: func() time.Time { return e2eNow }}, rdb, s.env.JS, s.env.Pub, s.store, h)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

var (
	alice    = events.Member{ID: "5550001", Name: "Alice Exemple", FirstName: "Alice", LastName: "Exemple", Username: "alice_ex"}
	e2eGroup = &events.Group{ID: "-100424242", Title: "Entraide Croix-Rousse"}
)

func replier(i int) events.Member {
	return events.Member{ID: fmt.Sprint(6660000 + i), Name: fmt.Sprintf("Voisin Numero%d", i)}
}

// event builds a group event at a time before the stack's clock.
func (s *stack) event(kind events.Kind, from events.Member, at time.Time) events.Event {
	s.n++
	return events.Event{V: events.Version, ID: fmt.Sprintf("telegram:%s:%d", e2eGroup.ID, s.n), Kind: kind,
		Platform: events.Telegram, At: at, Group: e2eGroup, Sender: from, Chars: 42}
}

// conversation makes Alice active and a leader: she posts every day of the last week, and
// six neighbours answer her.
func (s *stack) conversation(days int) []events.Event {
	var evs []events.Event
	for d := days; d >= 1; d-- {
		at := e2eNow.AddDate(0, 0, -d)
		for i := range 5 {
			evs = append(evs, s.event(events.KindMessage, alice, at.Add(time.Duration(i)*time.Minute)))
		}
		for i := range 6 {
			ev := s.event(events.KindMessage, replier(i), at.Add(time.Duration(10+i)*time.Minute))
			ev.ReplyTo = alice.ID
			evs = append(evs, ev)
		}
	}
	return evs
}

func (s *stack) command(from events.Member, group *events.Group, name string) events.Event {
	s.n++
	return events.Event{V: events.Version, ID: fmt.Sprintf("telegram:cmd:%d", s.n), Kind: events.KindCommand,
		Platform: events.Telegram, At: e2eNow.Add(-time.Minute), Group: group, Sender: from,
		Command: &events.Command{Name: name}}
}

// publish puts events on the stream and waits until the bridge has settled all of them.
func (s *stack) publish(evs ...events.Event) {
	s.t.Helper()
	ctx := context.Background()
	for _, ev := range evs {
		if _, err := s.env.Pub.Event(ctx, ev); err != nil {
			s.t.Fatal(err)
		}
	}
	s.settled()
}

func (s *stack) settled() {
	s.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := s.env.JS.Consumer(ctx, s.env.Names.EventsStream(), s.env.Names.BridgeConsumer())
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatal("bridge did not settle the events")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *stack) eventually(cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatal("condition not met within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *stack) token(m events.Member) string { return s.env.Hasher.Member(events.Telegram, m.ID) }

func (s *stack) lastChange(m events.Member) (events.ContactChange, bool) {
	s.t.Helper()
	c, found, err := s.env.Pub.LastContactChange(context.Background(), s.token(m))
	if err != nil {
		s.t.Fatal(err)
	}
	return c, found
}

func (s *stack) card(m events.Member) (bridge.MemberCard, bool) {
	s.t.Helper()
	c, found, err := s.bridge.Query().Member(context.Background(), s.token(m))
	if err != nil {
		s.t.Fatal(err)
	}
	return c, found
}

// checkLogs greps the whole run's logs for the people and group involved.
func (s *stack) checkLogs() {
	s.t.Helper()
	logs := s.logs.String()
	secrets := []string{alice.ID, alice.Name, alice.FirstName, alice.LastName, alice.Username, e2eGroup.ID, e2eGroup.Title,
		replier(0).ID, "Voisin", "Numero"}
	for _, x := range secrets {
		if strings.Contains(logs, x) {
			s.t.Errorf("logs contain %q", x)
		}
	}
}

func TestOptInKeepsTheUnconsentedOutOfTheCRM(t *testing.T) {
	s := newStack(t, consent.PolicyOptIn)
	s.publish(s.conversation(7)...)
	card, found := s.card(alice)
	if !found || !slices.Contains(card.Tags, "relais-actif") || !slices.Contains(card.Tags, "relais-leader") {
		t.Fatalf("Alice should be active and a leader: %+v", card)
	}
	if n := s.env.StreamMsgs(t, s.env.Names.CRMStream()); n != 0 {
		t.Fatalf("%d contact changes published under opt-in without consent", n)
	}
	if err := s.bridge.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.env.StreamMsgs(t, s.env.Names.CRMStream()); n != 0 {
		t.Fatalf("a sweep published %d contact changes", n)
	}

	// Once she says /oui, she reaches the CRM with her tags.
	s.publish(s.command(alice, e2eGroup, "oui"))
	c, found := s.lastChange(alice)
	if !found || c.Op != events.OpUpsert || !slices.Contains(c.Tags, "relais-leader") || c.DoNotContact {
		t.Fatalf("after /oui: %+v, found %v", c, found)
	}
	if n := s.env.StreamMsgs(t, s.env.Names.CRMStream()); n != 1 {
		t.Errorf("%d contact changes, want only Alice's", n)
	}
	s.checkLogs()
}

func TestStopUntagsAndFreezes(t *testing.T) {
	s := newStack(t, consent.PolicyNotice)
	ctx := context.Background()
	s.publish(s.conversation(7)...)
	c, found := s.lastChange(alice)
	if !found || !slices.Contains(c.Tags, "relais-actif") {
		t.Fatalf("under notice Alice should be synced as active: %+v", c)
	}

	s.publish(s.command(alice, e2eGroup, "stop"))
	c, _ = s.lastChange(alice)
	if !c.DoNotContact || !slices.Equal(c.Tags, []string{"relais-stop"}) ||
		!slices.Contains(c.RemoveTags, "relais-actif") || !slices.Contains(c.RemoveTags, "relais-leader") {
		t.Fatalf("after /stop: %+v", c)
	}
	before, _ := s.card(alice)
	crmBefore := s.env.StreamMsgs(t, s.env.Names.CRMStream())
	stopSeq := lastSeq(t, s.env, s.env.Names.CRMSubject(s.token(alice)))

	// She keeps talking, people keep answering her: nothing changes.
	var more []events.Event
	for i := range 12 {
		more = append(more, s.event(events.KindMessage, alice, e2eNow.Add(-time.Duration(30-i)*time.Minute)))
		ev := s.event(events.KindMessage, replier(7+i), e2eNow.Add(-time.Duration(10)*time.Minute))
		ev.ReplyTo = alice.ID
		more = append(more, ev)
	}
	s.publish(more...)
	if err := s.bridge.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := s.card(alice)
	if after.Messages != before.Messages || after.People != before.People || !after.LastSeen.Equal(before.LastSeen) ||
		!slices.Equal(after.Tags, before.Tags) {
		t.Errorf("objector's state changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := lastSeq(t, s.env, s.env.Names.CRMSubject(s.token(alice))); got != stopSeq {
		t.Errorf("a contact change followed the stop (seq %d, was %d)", got, stopSeq)
	}
	if n := s.env.StreamMsgs(t, s.env.Names.CRMStream()); n != crmBefore {
		t.Errorf("contact changes went from %d to %d", crmBefore, n)
	}
	s.checkLogs()
}

func lastSeq(t *testing.T, env *eventstest.Env, subject string) uint64 {
	t.Helper()
	st, err := env.JS.Stream(context.Background(), env.Names.CRMStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return m.Sequence
}

func TestForgetErasesEverywhere(t *testing.T) {
	s := newStack(t, consent.PolicyNotice)
	ctx := context.Background()
	s.publish(s.conversation(7)...)
	if _, found := s.lastChange(alice); !found {
		t.Fatal("Alice was not synced")
	}
	token := s.token(alice)

	s.publish(s.command(alice, nil, "oubli"))
	// The command is answered off the batch loop: wait for its last step, the erase change.
	s.eventually(func() bool { c, _ := s.lastChange(alice); return c.Op == events.OpErase })

	s.noTraceOf(t, token)
	// The CRM is told to erase her.
	if c, _ := s.lastChange(alice); c.Op != events.OpErase {
		t.Errorf("last contact change %+v, want erase", c)
	}
	if _, found := s.card(alice); found {
		t.Error("her card is still there")
	}

	// A rebuild from the stream on an empty Redis does not bring her back.
	rdb2, prefix2 := bridgetest.Redis(t)
	b2 := s.newBridge(rdb2, prefix2, nil)
	if err := b2.Replay(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, found, err := b2.Query().Member(ctx, token); err != nil || found {
		t.Errorf("after replay: found %v, err %v", found, err)
	}
	if leaks := redisMentions(t, rdb2, prefix2, token); len(leaks) > 0 {
		t.Errorf("rebuilt Redis holds her token in %v", leaks)
	}
	if c, _ := s.lastChange(alice); c.Op != events.OpErase {
		t.Errorf("after replay the last contact change is %+v", c)
	}
	if _, found, _ := b2.Query().Member(ctx, s.token(replier(0))); !found {
		t.Error("the replay lost everyone else too: the test proves nothing")
	}
	// Her consent record is the anonymous suppression entry only.
	rec, found, _ := s.store.Get(ctx, token)
	if !found || rec.Status != consent.StatusErased || rec.Phone != "" {
		t.Errorf("consent record %+v", rec)
	}
	s.checkLogs()
}

// noTraceOf checks that the event log holds no event of a member and that no Redis key
// names or holds their token.
func (s *stack) noTraceOf(t *testing.T, token string) {
	t.Helper()
	ctx := context.Background()
	st, err := s.env.JS.Stream(ctx, s.env.Names.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(s.env.Names.MemberEventsFilter(token)))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.State.Subjects) != 0 {
		t.Errorf("their events are still in the stream: %v", info.State.Subjects)
	}
	if leaks := redisMentions(t, s.rdb, s.prefix, token); len(leaks) > 0 {
		t.Errorf("Redis still holds their token in %v", leaks)
	}
}

// redisMentions lists the keys under prefix whose name or value contains s.
func redisMentions(t *testing.T, rdb redis.UniversalClient, prefix, s string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if strings.Contains(key, s) {
			out = append(out, key)
			continue
		}
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		var vals []string
		switch typ {
		case "string":
			v, _ := rdb.Get(ctx, key).Result()
			vals = []string{v}
		case "hash":
			m, _ := rdb.HGetAll(ctx, key).Result()
			for k, v := range m {
				vals = append(vals, k, v)
			}
		case "set":
			vals, _ = rdb.SMembers(ctx, key).Result()
		case "zset":
			vals, _ = rdb.ZRange(ctx, key, 0, -1).Result()
		case "list":
			vals, _ = rdb.LRange(ctx, key, 0, -1).Result()
		}
		for _, v := range vals {
			if strings.Contains(v, s) {
				out = append(out, key)
				break
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
