package history_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bots/telegram"
	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
	"github.com/relais-bot/relais/history"
)

// now is the clock of every stack: the conversation happens in the weeks before it.
var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// canary is in every text of the conversation: it must reach no byte relais keeps.
const canary = "CANARI-7f3a9"

const (
	chatID    = 424242 // as the export writes it
	liveChat  = -100424242
	chatTitle = "Entraide Test"
	botID     = 99
)

// stack is a bridge with its consent store and command handler, on its own streams and keys,
// consuming the event log as relais run does.
type stack struct {
	t      *testing.T
	env    *eventstest.Env
	rdb    redis.UniversalClient
	prefix string
	store  *consent.Store
	bridge *bridge.Bridge
	logs   *syncBuffer
	clock  func() time.Time

	crmMu      sync.Mutex
	crm        map[string]int // contact changes published, per member subject
	crmCounted int64          // messages the callback counted
	crmSub     *nats.Subscription
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type late struct{ h *commands.Handler }

func (l *late) Handle(ctx context.Context, ev events.Event) error { return l.h.Handle(ctx, ev) }
func (l *late) Background(ev events.Event) bool                   { return l.h.Background(ev) }

func newStack(t *testing.T, policy string) *stack {
	t.Helper()
	return newStackWith(t, policy, nil)
}

// newStackWith is newStack with edit changing the bridge's configuration.
func newStackWith(t *testing.T, policy string, edit func(*bridge.Config)) *stack {
	t.Helper()
	s := &stack{t: t, env: eventstest.New(t), logs: &syncBuffer{}, crm: map[string]int{}, clock: func() time.Time { return now }}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.rdb, s.prefix = bridgetest.Redis(t)
	ctx := context.Background()
	var err error
	if s.store, err = consent.New(ctx, s.env.JS, s.env.Names, policy, consent.WithLogger(log)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.store.Close() })
	s.crmSub, err = s.env.Conn.Subscribe(s.env.Names.CRMFilter(), func(m *nats.Msg) {
		s.crmMu.Lock()
		s.crm[m.Subject]++
		s.crmCounted++
		s.crmMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.crmSub.Unsubscribe() })
	fwd := &late{}
	cfg := bridge.Config{KeyPrefix: s.prefix, Policy: policy, Log: log, SweepEvery: time.Hour,
		Retention: 90 * 24 * time.Hour, Now: func() time.Time { return s.clock() }}
	if edit != nil {
		edit(&cfg)
	}
	s.bridge, err = bridge.New(cfg, s.rdb, s.env.JS, s.env.Pub, s.store, fwd)
	if err != nil {
		t.Fatal(err)
	}
	fwd.h, err = commands.New(commands.Config{Lang: "fr", Log: log, Now: func() time.Time { return now }, Rebuilding: s.bridge.Rebuilding},
		s.env.Pub, s.env.Hasher, s.env.JS, s.env.Names, s.bridge.Query(), s.bridge, nil, s.store)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.bridge.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("bridge run: %v", err)
		}
	})
	return s
}

// live publishes Bot API updates through the live mapper, as the adapter does, and waits.
func (s *stack) live(updates ...map[string]any) {
	s.t.Helper()
	for i, u := range updates {
		u["update_id"] = i + 1
		raw, err := json.Marshal(u)
		if err != nil {
			s.t.Fatal(err)
		}
		evs, err := telegram.MapUpdate(raw, "relais_bot", botID)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, ev := range evs {
			if _, err := s.env.Pub.Event(context.Background(), ev); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	s.settled()
}

func (s *stack) importer() *history.Importer {
	return &history.Importer{JS: s.env.JS, Pub: s.env.Pub}
}

// importFiles imports files with the stack's clock and consent, then waits for the bridge.
func (s *stack) importFiles(opt history.Options, files ...history.File) (history.Report, error) {
	s.t.Helper()
	if opt.Now.IsZero() {
		opt.Now = now
	}
	opt.BotID = botID
	opt.Suppressed = suppressedIn(s.store)
	rep, err := s.importer().Import(context.Background(), files, opt)
	s.settled()
	return rep, err
}

func suppressedIn(st *consent.Store) func(string) bool {
	set := map[string]bool{}
	for _, tok := range st.Suppressed() {
		set[tok] = true
	}
	return func(tok string) bool { return set[tok] }
}

// settled waits until the bridge consumer has nothing pending.
func (s *stack) settled() {
	s.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
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
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *stack) token(uid int64) string {
	return s.env.Hasher.Member(events.Telegram, strconv.FormatInt(uid, 10))
}

// snapshot is every member's card and the groups' figures.
func (s *stack) snapshot(uids []int64) (map[int64]bridge.MemberCard, []bridge.GroupStats) {
	s.t.Helper()
	ctx := context.Background()
	q := s.bridge.Query()
	out := map[int64]bridge.MemberCard{}
	for _, uid := range uids {
		c, _, err := q.Member(ctx, s.token(uid))
		if err != nil {
			s.t.Fatal(err)
		}
		c.LastSeen, c.FirstSeen = c.LastSeen.UTC(), c.FirstSeen.UTC()
		out[uid] = c
	}
	gs, err := q.Groups(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return out, gs
}

// crmChanges is how many contact changes each member got. The subscription shares the
// bridge's connection, so a change it published is in the subscription's queue before the
// publish's ack, hence before the bridge acks the events behind it (settled); but the
// callback that counts it runs on a goroutine of its own, and under load it may not have yet.
// So the counts are read once the callback counted every message the subscription took in.
func (s *stack) crmChanges() map[string]int {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.crmMu.Lock()
		counted := s.crmCounted
		s.crmMu.Unlock()
		queued, _, perr := s.crmSub.Pending()
		taken, derr := s.crmSub.Delivered()
		if perr == nil && derr == nil && queued == 0 && taken == counted {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("contact changes still being counted: %d queued, %d of %d counted (%v, %v)", queued, counted, taken, perr, derr)
		}
		time.Sleep(time.Millisecond)
	}
	s.crmMu.Lock()
	defer s.crmMu.Unlock()
	out := map[string]int{}
	for k, v := range s.crm {
		out[k] = v
	}
	return out
}

// conversation is one group's talk, written both as Bot API updates and as an export.
type conversation struct {
	msgs  []convMsg
	users []int64
}

type convMsg struct {
	id       int
	from     int64
	at       time.Time
	replyTo  int   // message id, 0: none
	mention  int64 // user id mentioned by name (text_mention / mention_name), 0: none
	reactor  int64 // user who reacted, 0: none
	reactAt  time.Time
	textSize int
}

func userName(uid int64) string { return fmt.Sprintf("Membre %d", uid) }

// makeConversation: ten members over `days` days before now, answering and mentioning each
// other, some reacting; a few are leaders, some active, some quiet.
func makeConversation(days int) *conversation {
	c := &conversation{}
	for i := range 10 {
		c.users = append(c.users, int64(1001+i))
	}
	id := 100
	for d := days; d >= 1; d-- {
		day := now.AddDate(0, 0, -d)
		for k := 0; k < 12; k++ {
			id++
			from := c.users[(d*7+k*3)%len(c.users)]
			if k%4 == 0 {
				from = c.users[0] // the group's hub: many answer her
			}
			m := convMsg{id: id, from: from, at: day.Add(time.Duration(k*17) * time.Minute), textSize: 5 + k}
			if k%3 == 1 && id > 101 {
				m.replyTo = id - 1
			}
			if k%5 == 2 {
				m.mention = c.users[(d+k)%3]
			}
			if k%4 == 3 {
				m.reactor = c.users[(d+2*k)%len(c.users)]
				m.reactAt = m.at.Add(3 * time.Minute)
			}
			c.msgs = append(c.msgs, m)
		}
	}
	return c
}

func (c *conversation) byID(id int) (convMsg, bool) {
	for _, m := range c.msgs {
		if m.id == id {
			return m, true
		}
	}
	return convMsg{}, false
}

func liveUserJSON(uid int64) map[string]any {
	return map[string]any{"id": uid, "is_bot": false, "first_name": userName(uid)}
}

func liveChatJSON() map[string]any {
	return map[string]any{"id": liveChat, "type": "supergroup", "title": chatTitle}
}

// text is what a member wrote: the canary, padded, then the mention's name.
func (m convMsg) text() (string, string) {
	body := canary + " " + strings.Repeat("x", m.textSize) + " "
	if m.mention == 0 {
		return body, ""
	}
	return body, userName(m.mention)
}

// updates are the conversation as the bot receives it live: messages then reactions.
func (c *conversation) updates() []map[string]any {
	var out []map[string]any
	for _, m := range c.msgs {
		body, name := m.text()
		msg := map[string]any{"message_id": m.id, "date": m.at.Unix(), "chat": liveChatJSON(), "from": liveUserJSON(m.from), "text": body + name}
		if name != "" {
			msg["entities"] = []map[string]any{{"type": "text_mention", "offset": len([]rune(body)), "length": len([]rune(name)), "user": liveUserJSON(m.mention)}}
		}
		if m.replyTo != 0 {
			if r, ok := c.byID(m.replyTo); ok {
				msg["reply_to_message"] = map[string]any{"message_id": r.id, "date": r.at.Unix(), "chat": liveChatJSON(), "from": liveUserJSON(r.from), "text": canary}
			}
		}
		out = append(out, map[string]any{"message": msg})
		if m.reactor != 0 {
			out = append(out, map[string]any{"message_reaction": map[string]any{"chat": liveChatJSON(), "message_id": m.id,
				"user": liveUserJSON(m.reactor), "date": m.reactAt.Unix(), "old_reaction": []any{}, "new_reaction": []any{map[string]any{"type": "emoji", "emoji": "👍"}}}})
		}
	}
	return out
}

// export is the conversation as Telegram Desktop exports it, dates in Paris time.
func (c *conversation) export() []byte {
	paris, _ := time.LoadLocation("Europe/Paris")
	local := func(t time.Time) string { return t.In(paris).Format("2006-01-02T15:04:05") }
	var msgs []map[string]any
	for _, m := range c.msgs {
		body, name := m.text()
		var text any = body
		ents := []map[string]any{{"type": "plain", "text": body}}
		if name != "" {
			text = []any{body, map[string]any{"type": "mention_name", "text": name, "user_id": m.mention}}
			ents = append(ents, map[string]any{"type": "mention_name", "text": name, "user_id": m.mention})
		}
		e := map[string]any{"id": m.id, "type": "message", "date": local(m.at), "date_unixtime": strconv.FormatInt(m.at.Unix(), 10),
			"from": userName(m.from), "from_id": fmt.Sprintf("user%d", m.from), "text": text, "text_entities": ents}
		if m.replyTo != 0 {
			e["reply_to_message_id"] = m.replyTo
		}
		if m.reactor != 0 {
			e["reactions"] = []any{map[string]any{"type": "emoji", "count": 1, "emoji": "👍",
				"recent": []any{map[string]any{"from": userName(m.reactor), "from_id": fmt.Sprintf("user%d", m.reactor), "date": local(m.reactAt)}}}}
		}
		msgs = append(msgs, e)
	}
	body, _ := json.Marshal(msgs)
	// The reader wants a chat's name, type and id before its messages, as Desktop writes
	// them: json.Marshal would sort the keys.
	return fmt.Appendf(nil, `{"name":%q,"type":"private_supergroup","id":%d,"messages":%s}`, chatTitle, chatID, body)
}

func file(name string, data []byte) history.File {
	return history.File{Name: name, Data: bytes.NewReader(data), Size: int64(len(data))}
}

// memberEvents counts the log's events of one member, live and imported.
func (s *stack) memberEvents(tok string) uint64 {
	s.t.Helper()
	return s.eventsOn(s.env.Names.MemberEventsFilter(tok))
}

// eventsOn counts the log's events on a subject filter.
func (s *stack) eventsOn(filter string) uint64 {
	s.t.Helper()
	st, err := s.env.JS.Stream(context.Background(), s.env.Names.EventsStream())
	if err != nil {
		s.t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		s.t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
