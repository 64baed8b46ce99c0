package telegram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bots/telegram/tgtest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// logBuffer collects everything an adapter logs, for assertions on what never appears.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harness struct {
	t    testing.TB
	env  *eventstest.Env
	fake *tgtest.Server
	logs *logBuffer
}

func newHarness(t testing.TB, opts ...tgtest.Option) *harness {
	t.Helper()
	return &harness{t: t, env: eventstest.New(t), fake: tgtest.New(t, opts...), logs: &logBuffer{}}
}

func (h *harness) config() Config {
	return Config{
		Token:       h.fake.Token(),
		Endpoint:    h.fake.Endpoint(),
		PollTimeout: time.Second,
		Log:         slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (h *harness) adapter(mods ...func(*Config)) *Adapter {
	h.t.Helper()
	cfg := h.config()
	for _, m := range mods {
		m(&cfg)
	}
	a, err := New(context.Background(), cfg, h.env.JS, h.env.Pub)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	a.backoffBase, a.backoffMax = 20*time.Millisecond, 200*time.Millisecond
	return a
}

// run starts f in the background; stop cancels it and returns its error.
func run(t testing.TB, f func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				err = errors.New("did not stop within 20s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamEvents returns every event in the test's events stream, in stream order.
func (h *harness) streamEvents() []events.Event {
	h.t.Helper()
	ctx := context.Background()
	s, err := h.env.JS.Stream(ctx, h.env.Names.EventsStream())
	if err != nil {
		h.t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatalf("stream info: %v", err)
	}
	var out []events.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			h.t.Fatalf("get %d: %v", seq, err)
		}
		e, err := events.DecodeEvent(m.Data)
		if err != nil {
			h.t.Fatalf("decode %d: %v", seq, err)
		}
		if want := h.env.Pub.EventSubject(e); m.Subject != want {
			h.t.Errorf("event %s on subject %s, want %s", e.ID, m.Subject, want)
		}
		out = append(out, e)
	}
	return out
}

func (h *harness) streamCount() int {
	return int(h.env.StreamMsgs(h.t, h.env.Names.EventsStream()))
}

// summary is the part of an event a test states: everything but the timestamp.
func summary(e events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.Kind, e.ID)
	if e.Group != nil {
		fmt.Fprintf(&b, " group=%s", e.Group.ID)
		if e.Group.MigratedFrom != "" {
			fmt.Fprintf(&b, " from=%s", e.Group.MigratedFrom)
		}
	}
	fmt.Fprintf(&b, " sender=%s", e.Sender.ID)
	if e.Sender.Phone != "" {
		fmt.Fprintf(&b, " phone=%s", e.Sender.Phone)
	}
	if e.ReplyTo != "" {
		fmt.Fprintf(&b, " reply_to=%s", e.ReplyTo)
	}
	if e.Target != "" {
		fmt.Fprintf(&b, " target=%s", e.Target)
	}
	if len(e.Mentions) > 0 {
		fmt.Fprintf(&b, " mentions=%s", strings.Join(e.Mentions, ","))
	}
	if e.Command != nil {
		fmt.Fprintf(&b, " cmd=%s%q", e.Command.Name, e.Command.Args)
	}
	if e.Chars != 0 {
		fmt.Fprintf(&b, " chars=%d", e.Chars)
	}
	return b.String()
}

func summaries(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = summary(e)
	}
	return out
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("events differ:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}

// Members of the test conversations.
var (
	ann   = tgtest.User{ID: 1001, FirstName: "Ann", LastName: "Nord", Username: "ann_nord"}
	bob   = tgtest.User{ID: 1002, FirstName: "Bob", Username: "Bob_S"}
	chloe = tgtest.User{ID: 1003, FirstName: "Chloé"}
	dan   = tgtest.User{ID: 1004, FirstName: "Dan", Username: "dan"}
	// Not members.
	anonAdmin = tgtest.User{ID: groupAnonymousBot, IsBot: true, FirstName: "Group", Username: "GroupAnonymousBot"}
	otherBot  = tgtest.User{ID: 5005, IsBot: true, FirstName: "Rose", Username: "MissRose_bot"}
)
