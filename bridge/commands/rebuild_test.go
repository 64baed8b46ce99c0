package commands_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
)

// gate holds the replay's writes until opened: the rebuild stays half done for as long as
// the test needs to look at it.
type gate struct {
	once   sync.Once
	open   chan struct{}
	closed bool
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if c.Name() == "evalsha" && g.closed {
				<-g.open
				break
			}
		}
		return next(ctx, cmds)
	}
}

// While the state is rebuilt from the log, organisers are told so with the progress instead
// of partial figures, activity waits, no contact change is decided; once the rebuild is done
// everything is applied and decided on the whole state.
func TestRebuildIsVisible(t *testing.T) {
	g := &gate{open: make(chan struct{}), closed: true}
	s := newStackWith(t, consent.PolicyNotice, g, func(s *stack) {
		for _, ev := range s.conversation(3) {
			if _, err := s.env.Pub.Event(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	}, func(b *bridge.Bridge, ctx context.Context) error {
		return b.RebuildAndRun(ctx, time.Time{})
	})
	defer g.once.Do(func() { close(g.open) })

	s.eventually(func() bool { a, _ := s.bridge.Rebuilding(); return a })
	if _, found := s.lastChange(alice); found {
		t.Error("a contact change was decided on a half-rebuilt state")
	}
	before := len(s.replies())
	if _, err := s.env.Pub.Event(context.Background(), s.command(tgOrganiser, nil, "actifs")); err != nil {
		t.Fatal(err)
	}
	s.eventually(func() bool { return len(s.replies()) > before })
	if r := s.replies()[before]; !strings.Contains(r.Text, "reconstruction") || !r.Private {
		t.Errorf("organiser answered %+v during the rebuild, want the rebuilding note in private", r)
	}
	live := s.event(events.KindMessage, replier(9), e2eNow.Add(-time.Minute))
	live.ReplyTo = alice.ID
	if _, err := s.env.Pub.Event(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // give a wrongly live apply the time to happen
	if _, found, _ := s.bridge.Query().Member(context.Background(), s.token(replier(9))); found {
		t.Error("activity applied on a half-rebuilt state")
	}

	g.once.Do(func() { close(g.open) })
	s.eventually(func() bool { a, _ := s.bridge.Rebuilding(); return !a })
	s.eventually(func() bool {
		_, found, _ := s.bridge.Query().Member(context.Background(), s.token(replier(9)))
		return found
	})
	// The live reply is two member writes (the replier's, Alice's credit): seeing the
	// replier does not mean Alice's write landed yet.
	// Alice: 7 people (6 from the log, 1 live).
	s.eventually(func() bool { c, found := s.card(alice); return found && c.People == 7 })
	// The full sweep that ends the rebuild and the live batch's settle both decide it, after
	// their Redis writes: a moment after the member is visible.
	s.eventually(func() bool { _, found := s.lastChange(alice); return found })
}

// replies reads every reply the stack published, oldest first.
func (s *stack) replies() []events.Reply {
	s.t.Helper()
	st, err := s.env.JS.Stream(context.Background(), s.env.Names.RepliesStream())
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	var out []events.Reply
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		raw, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		if r, err := events.DecodeReply(raw.Data); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// holdScan holds every HSCAN (the member search of /fiche) until released.
type holdScan struct{ release chan struct{} }

func (h *holdScan) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *holdScan) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "hscan" {
			<-h.release
		}
		return next(ctx, cmd)
	}
}
func (h *holdScan) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// An organiser's slow search does not hold up the event flow: it is answered off the batch
// loop while activity keeps being applied.
func TestSlowOrganiserQueryDoesNotStallEvents(t *testing.T) {
	h := &holdScan{release: make(chan struct{})}
	var once sync.Once
	s := newStackWith(t, consent.PolicyNotice, h, nil, nil)
	defer once.Do(func() { close(h.release) })
	before := len(s.replies())
	if _, err := s.env.Pub.Event(context.Background(), s.command(tgOrganiser, nil, "fiche")); err != nil {
		t.Fatal(err)
	}
	ev := s.command(tgOrganiser, nil, "fiche")
	ev.Command.Args = []string{"a"}
	if _, err := s.env.Pub.Event(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for _, e := range s.conversation(2) {
		if _, err := s.env.Pub.Event(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	// Applied while the search is still held (it fails the test after 30 s otherwise).
	s.eventually(func() bool { c, found := s.card(alice); return found && c.Messages == 10 })
	once.Do(func() { close(h.release) })
	s.eventually(func() bool { return len(s.replies()) >= before+2 })
}
