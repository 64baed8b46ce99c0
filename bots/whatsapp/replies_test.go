package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// fakeSender records what would have gone to WhatsApp.
type fakeSender struct {
	mu   sync.Mutex
	sent []sentText
	err  error
}

type sentText struct {
	to   types.JID
	id   types.MessageID
	text string
}

func (f *fakeSender) SendText(_ context.Context, to types.JID, id types.MessageID, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, sentText{to, id, text})
	return nil
}

func (f *fakeSender) texts() []sentText {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentText(nil), f.sent...)
}

// knownSet: people who wrote first.
type knownSet map[types.JID]bool

func (k knownSet) WroteFirst(_ context.Context, j types.JID) (bool, error) { return k[j], nil }

// fakeClock moves only when the replier sleeps.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testReplier(cfg Throttle, known Recipients) (*replier, *fakeSender, *fakeClock, map[string]int) {
	send := &fakeSender{}
	clock := &fakeClock{now: t0}
	r := newReplier(send, known, cfg, slog.New(slog.DiscardHandler))
	r.now, r.sleep = clock.Now, clock.Sleep
	outcomes := map[string]int{}
	r.count = func(o string) { outcomes[o]++ }
	return r, send, clock, outcomes
}

func privateReply(id string, to types.JID) events.Reply {
	return events.Reply{V: 1, ID: id, Platform: events.WhatsApp, Chat: to.String(), Private: true, Text: "Vos statistiques : 12 membres actifs"}
}

// TestReplyThrottlePerChat: a burst of answers to one organiser goes out a few at a time,
// each after a random pause; the next waits its turn in the stream, then goes.
func TestReplyThrottlePerChat(t *testing.T) {
	cfg := DefaultThrottle()
	cfg.MaxWait = 5 * time.Second
	r, send, clock, outcomes := testReplier(cfg, knownSet{alicePN: true})
	ctx := context.Background()
	for i := range 3 {
		if err := r.Handle(ctx, privateReply(fmt.Sprintf("r%d", i), alicePN)); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	for i, d := range clock.sleeps {
		if d < cfg.MinJitter || d >= cfg.MaxJitter {
			t.Errorf("pause before send %d = %s, want jitter in [%s, %s)", i, d, cfg.MinJitter, cfg.MaxJitter)
		}
	}
	err := r.Handle(ctx, privateReply("r3", alicePN))
	delay, retry := events.RetryDelay(err)
	if !errors.Is(err, errThrottled) || !retry || delay <= cfg.MaxWait || delay > 20*time.Second {
		t.Fatalf("4th reply in a burst: err=%v delay=%s, want throttled for (5s, 20s]", err, delay)
	}
	if n := len(send.texts()); n != 3 {
		t.Fatalf("sent %d, want 3 (burst of one chat)", n)
	}
	// Redelivered when its delay is over, it goes.
	clock.advance(delay)
	if err := r.Handle(ctx, privateReply("r3", alicePN)); err != nil {
		t.Fatalf("4th reply after its delay: %v", err)
	}
	if got := outcomes; got[outcomeSent] != 4 || got[outcomeThrottled] != 1 {
		t.Errorf("outcomes = %v", got)
	}
	for _, s := range send.texts() {
		if s.to != alicePN {
			t.Errorf("sent to %s", s.to)
		}
	}
}

// TestReplyThrottleGlobal: answers to many people are bounded in all, not only per chat.
func TestReplyThrottleGlobal(t *testing.T) {
	cfg := DefaultThrottle()
	cfg.MaxWait = 0
	cfg.MinJitter, cfg.MaxJitter = 0, 0
	known := knownSet{}
	var people []types.JID
	for i := range 6 {
		p := types.NewJID(fmt.Sprintf("3361000000%d", i), types.DefaultUserServer)
		known[p] = true
		people = append(people, p)
	}
	r, send, _, _ := testReplier(cfg, known)
	throttled := 0
	for i, p := range people {
		err := r.Handle(context.Background(), privateReply(fmt.Sprintf("g%d", i), p))
		if errors.Is(err, errThrottled) {
			throttled++
		} else if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	if n := len(send.texts()); n != cfg.GlobalBurst || throttled != len(people)-cfg.GlobalBurst {
		t.Fatalf("sent %d, throttled %d; want %d sent at once in all", n, throttled, cfg.GlobalBurst)
	}
}

// TestReplyPrivateOnly: relais answers privately, only people who wrote first, and posts
// in a group at most once a day (the notice).
func TestReplyPrivateOnly(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultThrottle()
	r, send, clock, outcomes := testReplier(cfg, knownSet{alicePN: true, carolLID: true})

	if err := r.Handle(ctx, privateReply("p1", carolLID)); err != nil {
		t.Fatalf("reply to a member who wrote first (LID): %v", err)
	}
	if err := r.Handle(ctx, privateReply("p2", daveLID)); err != nil {
		t.Fatalf("reply to a stranger must be refused quietly, got %v", err)
	}
	if outcomes[outcomeRefusedUnknown] != 1 {
		t.Errorf("outcomes = %v", outcomes)
	}

	// A stranger with a fallback: the fallback text goes to the group instead.
	fb := privateReply("p3", daveLID)
	fb.FallbackChat, fb.FallbackText = lidGroup.String(), "Écrivez-moi en privé pour recevoir la réponse."
	if err := r.Handle(ctx, fb); err != nil {
		t.Fatalf("fallback: %v", err)
	}
	// A group post: the notice. A second one the same day is refused.
	notice := events.Reply{V: 1, ID: "n1", Platform: events.WhatsApp, Chat: pnGroup.String(), Text: "Information : relais compte l'activité du groupe."}
	if err := r.Handle(ctx, notice); err != nil {
		t.Fatalf("notice: %v", err)
	}
	notice.ID = "n2"
	if err := r.Handle(ctx, notice); err != nil {
		t.Fatalf("second notice: %v", err)
	}
	if outcomes[outcomeRefusedGroup] != 1 {
		t.Errorf("second group post the same day not refused: %v", outcomes)
	}
	clock.advance(cfg.GroupEvery)
	notice.ID = "n3"
	if err := r.Handle(ctx, notice); err != nil {
		t.Fatalf("notice a day later: %v", err)
	}

	want := []sentText{
		{carolLID, replyMessageID("p1"), "Vos statistiques : 12 membres actifs"},
		{lidGroup, replyMessageID("p3"), fb.FallbackText},
		{pnGroup, replyMessageID("n1"), notice.Text},
		{pnGroup, replyMessageID("n3"), notice.Text},
	}
	got := send.texts()
	if len(got) != len(want) {
		t.Fatalf("sent %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("send %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	for _, bad := range []events.Reply{
		{V: 1, ID: "b1", Platform: events.WhatsApp, Chat: pnGroup.String(), Private: true, Text: "stats"},
		{V: 1, ID: "b2", Platform: events.WhatsApp, Chat: "status@broadcast", Text: "x"},
		{V: 1, ID: "b3", Platform: events.WhatsApp, Chat: "pas un jid@@", Text: "x"},
		{V: 1, ID: "b4", Platform: events.Telegram, Chat: alicePN.String(), Private: true, Text: "x"},
	} {
		if err := r.Handle(ctx, bad); !events.IsPermanent(err) {
			t.Errorf("reply %s: %v, want a permanent error", bad.ID, err)
		}
	}
	if n := len(send.texts()); n != len(want) {
		t.Errorf("invalid replies were sent: %d sends", n)
	}
}

func TestReplySendErrors(t *testing.T) {
	tests := []struct {
		err       error
		delay     time.Duration
		permanent bool
	}{
		{fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 429), 5 * time.Minute, false},
		{fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 463), 5 * time.Minute, false},
		{whatsmeow.ErrNotConnected, 30 * time.Second, false},
		{whatsmeow.ErrRecipientADJID, 0, true},
		{errors.New("boom"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			r, send, _, _ := testReplier(DefaultThrottle(), knownSet{alicePN: true})
			send.err = tt.err
			err := r.Handle(context.Background(), privateReply("e", alicePN))
			if err == nil || events.IsPermanent(err) != tt.permanent {
				t.Fatalf("err = %v, permanent want %v", err, tt.permanent)
			}
			if d, _ := events.RetryDelay(err); d != tt.delay {
				t.Errorf("retry delay = %s, want %s", d, tt.delay)
			}
		})
	}
}

func TestReplyMessageID(t *testing.T) {
	a, b := replyMessageID("reply-1"), replyMessageID("reply-1")
	if a != b || a == replyMessageID("reply-2") {
		t.Fatalf("message ids not derived from the reply id: %s %s", a, b)
	}
	if !regexp.MustCompile(`^3EB0[0-9A-F]{18}$`).MatchString(string(a)) {
		t.Fatalf("message id %s does not look like a WhatsApp web id", a)
	}
}

// TestServeReplies: a reply the bridge publishes reaches the sender once and leaves the
// work-queue stream.
func TestServeReplies(t *testing.T) {
	env := eventstest.New(t)
	a := newTestAdapter(t, env, nil)
	send := &fakeSender{}
	clock := &fakeClock{now: t0}
	a.replies.send, a.replies.now, a.replies.sleep = send, clock.Now, clock.Sleep
	a.replies.known = knownSet{alicePN: true}
	a.canSend = func() bool { return true }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeReplies(ctx) }()
	rep := privateReply("bridge-1", alicePN)
	if err := env.Pub.Reply(ctx, rep); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(send.texts()) == 0 || env.StreamMsgs(t, env.Names.RepliesStream()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("reply not delivered: sent %d, stream %d", len(send.texts()), env.StreamMsgs(t, env.Names.RepliesStream()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeReplies: %v", err)
	}
	if got := send.texts(); len(got) != 1 || got[0].to != alicePN || got[0].id != replyMessageID("bridge-1") {
		t.Fatalf("sent %+v", got)
	}
}

// TestSentRepliesLeaveNoBytes: once sent (or refused), a personal answer is gone from the
// NATS store: no file under the store directory holds its words. The store is an embedded
// server's, even when NATS_URL is set: the test reads its files.
func TestSentRepliesLeaveNoBytes(t *testing.T) {
	d := eventstest.OnDisk(t, events.DefaultLimits())
	env, dir, ctx := d.Env, d.Dir, context.Background()
	// A reply waiting for the Telegram adapter keeps the queue's block in use: a drained
	// queue has its block file removed whole, which would hide what acks leave behind.
	tg := events.Reply{V: events.Version, ID: "tg", Platform: events.Telegram, Chat: "1001", Text: "Bonjour"}
	if err := env.Pub.Reply(ctx, tg); err != nil {
		t.Fatal(err)
	}
	const personal = "Philibertine Zébulonne"
	sent := privateReply("moi", alicePN)
	sent.Text = "Ce que relais sait de vous : " + personal
	refused := privateReply("liste", bobPN) // Bob never wrote: refused, never sent
	refused.Text = "Relais : " + personal + " (12 messages)"
	for _, r := range []events.Reply{sent, refused} {
		if err := env.Pub.Reply(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if files := filesHolding(t, dir, personal); len(files) == 0 {
		t.Fatal("the replies are not on disk before they are sent: the search sees nothing")
	}

	a := newTestAdapter(t, env, nil)
	send := &fakeSender{}
	clock := &fakeClock{now: t0}
	a.replies.send, a.replies.now, a.replies.sleep = send, clock.Now, clock.Sleep
	a.replies.known = knownSet{alicePN: true}
	a.canSend = func() bool { return true }
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.ServeReplies(cctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(send.texts()) == 0 || env.StreamMsgs(t, env.Names.RepliesStream()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("replies not settled: sent %d, stream %d", len(send.texts()), env.StreamMsgs(t, env.Names.RepliesStream()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeReplies: %v", err)
	}
	d.Shutdown()
	if files := filesHolding(t, dir, personal); len(files) > 0 {
		t.Fatalf("settled replies still on disk in %v", files)
	}
}

// filesHolding lists the files under dir that contain text.
func filesHolding(t *testing.T, dir, text string) []string {
	t.Helper()
	return eventstest.FilesHolding(t, dir, false, text)[text]
}
