package commands_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// People of the tests. Their names, phones and ids must never show in logs.
var (
	tgOrganiser = events.Member{ID: "710010701", Name: "Odile Organisatrice", Username: "odile_orga"}
	waOrganiser = events.Member{ID: "33611111111@s.whatsapp.net", Name: "Oscar Orga"}
	tgMember    = events.Member{ID: "820020802", Name: "Camille Martin", Username: "camille_m"}
	waMember    = events.Member{ID: "987654321@lid", Name: "Dominique Durand", Phone: "+33622222222"}
	tgGroup     = &events.Group{ID: "-100777", Title: "Lyon 3e entraide"}
	waGroup     = &events.Group{ID: "120363000000000001@g.us", Title: "Marseille quartiers nord"}
)

const organisersEnv = "telegram:710010701, whatsapp:+33 6 11 11 11 11"

// fakeQuery is the bridge's Query over fixed data; it counts calls so tests see that a
// refused command never read anything.
type fakeQuery struct {
	mu      sync.Mutex
	charted []string // groups whose series were read for a chart
	groups  []commands.GroupStats
	members []commands.MemberCard
	calls   int
	lastN   int
}

func (f *fakeQuery) called(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if n > 0 {
		f.lastN = n
	}
}

func (f *fakeQuery) Groups(context.Context) ([]commands.GroupStats, error) {
	f.called(0)
	return f.groups, nil
}

func (f *fakeQuery) Group(_ context.Context, token string) (commands.GroupStats, bool, error) {
	f.called(0)
	for _, g := range f.groups {
		if g.Token == token {
			return g, true, nil
		}
	}
	return commands.GroupStats{}, false, nil
}

func (f *fakeQuery) FindGroup(_ context.Context, title string) ([]commands.GroupStats, error) {
	f.called(0)
	var out []commands.GroupStats
	for _, g := range f.groups {
		if strings.Contains(strings.ToLower(g.Title), strings.ToLower(title)) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (f *fakeQuery) TopActive(_ context.Context, n int) ([]commands.MemberCard, error) {
	f.called(n)
	return f.members[:min(n, len(f.members))], nil
}

func (f *fakeQuery) Leaders(_ context.Context, n int) ([]commands.MemberCard, error) {
	f.called(n)
	return f.members[:min(n, len(f.members))], nil
}

func (f *fakeQuery) Member(_ context.Context, token string) (commands.MemberCard, bool, error) {
	f.called(0)
	for _, m := range f.members {
		if m.Token == token {
			return m, true, nil
		}
	}
	return commands.MemberCard{}, false, nil
}

func (f *fakeQuery) FindMembers(_ context.Context, q string, keep func(commands.MemberCard) bool) ([]commands.MemberCard, error) {
	f.called(0)
	q = strings.ToLower(strings.TrimPrefix(q, "@"))
	var out []commands.MemberCard
	for _, m := range f.members {
		if keep != nil && !keep(m) {
			continue
		}
		if strings.Contains(strings.ToLower(m.Name), q) || strings.EqualFold(m.Username, q) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeQuery) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeOps records the bridge writes asked for.
type fakeOps struct {
	mu       sync.Mutex
	erased   []string
	objected []string
	resyncs  []string
	contacts []string // erase contact changes asked
	notifies []*events.Notify
	identity bridge.MemberIdentity
}

func (f *fakeOps) Object(_ context.Context, m string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objected = append(f.objected, m)
	return nil
}

func (f *fakeOps) EraseContact(_ context.Context, m string, inCRM bool, n *events.Notify) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inCRM {
		f.contacts = append(f.contacts, m)
		f.notifies = append(f.notifies, n)
	}
	return nil
}

func (f *fakeOps) Identity(context.Context, string) (bridge.MemberIdentity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.identity, nil
}

func (f *fakeOps) Erase(_ context.Context, m string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.erased = append(f.erased, m)
	return nil
}

func (f *fakeOps) Resync(_ context.Context, m string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resyncs = append(f.resyncs, m)
	return nil
}

type fakeSync struct{ info commands.SyncInfo }

func (f fakeSync) SyncInfo(context.Context) (commands.SyncInfo, error) { return f.info, nil }

// rig is one handler on its own NATS streams, with a clock the test moves.
type rig struct {
	t      *testing.T
	env    *eventstest.Env
	h      *commands.Handler
	cat    commands.Catalogue
	q      *fakeQuery
	ops    *fakeOps
	store  *consent.Store
	now    time.Time
	seq    uint64 // last reply read
	nextID int
	logs   *syncBuffer
}

type rigOption func(*commands.Config, *rigDeps)

type rigDeps struct {
	sync    commands.SyncReporter
	policy  string
	journal bool // keep an access journal (journal_test.go)
}

func withoutSync() rigOption { return func(_ *commands.Config, d *rigDeps) { d.sync = nil } }
func withPolicy(p string) rigOption {
	return func(_ *commands.Config, d *rigDeps) { d.policy = p }
}

var day0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func newRig(t *testing.T, lang string, opts ...rigOption) *rig {
	t.Helper()
	env := eventstest.New(t)
	orgs, err := commands.ParseOrganisers(organisersEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, env: env, q: &fakeQuery{}, ops: &fakeOps{}, now: day0, logs: &syncBuffer{}}
	cfg := commands.Config{
		Lang:       lang,
		Organisers: orgs,
		Admins:     orgs, // the scope tests make organisers of some groups only

		BotName:       "relais_test_bot",
		Controller:    "Parti Test",
		WindowDays:    30,
		RetentionDays: 90,
		Log:           slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:           func() time.Time { return r.now },
	}
	deps := rigDeps{
		sync: fakeSync{commands.SyncInfo{Pending: 3, LastError: "nationbuilder: 503 service unavailable",
			LastErrorAt: day0.Add(-time.Hour), LastSuccessAt: day0.Add(-10 * time.Minute)}},
		policy: consent.PolicyOptIn,
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	if deps.journal {
		cfg.Journal = openTestJournal(t, env, func() time.Time { return r.now })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.store, err = consent.New(ctx, env.JS, env.Names, deps.policy, consent.WithLogger(cfg.Log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.store.Close() })
	r.seedQuery()
	r.h, err = commands.New(cfg, env.Pub, env.Hasher, env.JS, env.Names, r.q, r.ops, deps.sync, r.store)
	if err != nil {
		t.Fatal(err)
	}
	r.cat = r.h.Catalogue()
	return r
}

func (r *rig) member(p events.Platform, m events.Member) string { return r.env.Hasher.Member(p, m.ID) }

func (r *rig) seedQuery() {
	h := r.env.Hasher
	r.q.groups = []commands.GroupStats{
		{Token: h.Group(events.Telegram, tgGroup.ID), Title: tgGroup.Title, Platform: events.Telegram,
			MembersSeen: 42, Active7: 9, Active30: 17, MessagesPerDay: []int{0, 3, 5, 8, 13, 21, 34, 21, 13, 8, 5, 3, 1, 0}},
		{Token: h.Group(events.WhatsApp, waGroup.ID), Title: waGroup.Title, Platform: events.WhatsApp,
			MembersSeen: 7, Active7: 2, Active30: 3, MessagesPerDay: make([]int, 14)},
	}
	r.q.members = []commands.MemberCard{
		{Token: r.member(events.Telegram, tgMember), Name: tgMember.Name, Username: tgMember.Username,
			Platform: events.Telegram, Groups: []string{tgGroup.Title}, Messages: 57, ActiveDays: 12, People: 8,
			RepliesReceived: 23, FirstSeen: day0.AddDate(0, 0, -40), LastSeen: day0, Tags: []string{"relais-actif", "relais-leader"}},
		{Token: r.member(events.WhatsApp, waMember), Name: waMember.Name, Phone: waMember.Phone,
			Platform: events.WhatsApp, Groups: []string{waGroup.Title}, Messages: 31, ActiveDays: 6, People: 5,
			RepliesReceived: 9, FirstSeen: day0.AddDate(0, 0, -20), LastSeen: day0.AddDate(0, 0, -1)},
		{Token: "cafe01", Name: "Camille Bernard", Platform: events.Telegram, Messages: 3, ActiveDays: 1},
	}
}

// event builds a command (or other) event with a fresh id.
func (r *rig) event(p events.Platform, from events.Member, g *events.Group, kind events.Kind, cmd string, args ...string) events.Event {
	r.nextID++
	ev := events.Event{V: events.Version, ID: fmt.Sprintf("%s:test:%d", p, r.nextID), Kind: kind, Platform: p,
		At: r.now, Group: g, Sender: from}
	if kind == events.KindCommand {
		ev.Command = &events.Command{Name: cmd, Args: args}
	}
	return ev
}

func (r *rig) cmd(p events.Platform, from events.Member, g *events.Group, name string, args ...string) events.Event {
	return r.event(p, from, g, events.KindCommand, name, args...)
}

// handle runs the handler on ev and returns the replies it published.
func (r *rig) handle(ev events.Event) []events.Reply {
	r.t.Helper()
	if err := r.h.Handle(context.Background(), ev); err != nil {
		r.t.Fatalf("Handle %s: %v", ev.Command.Name, err)
	}
	return r.replies()
}

// replies reads the replies published since the last call, in order.
func (r *rig) replies() []events.Reply {
	r.t.Helper()
	ctx := context.Background()
	s, err := r.env.JS.Stream(ctx, r.env.Names.RepliesStream())
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []events.Reply
	for ; r.seq < info.State.LastSeq; r.seq++ {
		m, err := s.GetMsg(ctx, r.seq+1)
		if err != nil {
			r.t.Fatalf("reply %d: %v", r.seq+1, err)
		}
		rep, err := events.DecodeReply(m.Data)
		if err != nil {
			r.t.Fatalf("reply %d: %v", r.seq+1, err)
		}
		out = append(out, rep)
	}
	return out
}

// syncBuffer is a log sink safe for the watch goroutine and the handler together.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// The digest and dashboard read members through MemberSource.
func (f *fakeQuery) GroupMembers(_ context.Context, group string) ([]string, error) {
	f.called(0)
	var out []string
	for _, m := range f.members {
		for _, g := range m.InGroups {
			if g.Token == group {
				out = append(out, m.Token)
			}
		}
	}
	return out, nil
}

func (f *fakeQuery) Cards(_ context.Context, tokens []string) ([]commands.MemberCard, error) {
	f.called(0)
	var out []commands.MemberCard
	for _, t := range tokens {
		for _, m := range f.members {
			if m.Token == t {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

func (f *fakeQuery) Bars() bridge.Bars {
	return bridge.Bars{ActiveMinMessages: 10, ActiveMinDays: 3, LeaderMinPeople: 5, WindowDays: 30}
}

// replica is a second handler on the rig's NATS and query: another bridge replica.
func (r *rig) replica(opts ...rigOption) *commands.Handler {
	r.t.Helper()
	orgs, err := commands.ParseOrganisers(organisersEnv)
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := commands.Config{Lang: r.cat.Lang, Organisers: orgs, Admins: orgs, Now: func() time.Time { return r.now }}
	deps := rigDeps{sync: fakeSync{commands.SyncInfo{Pending: 3}}}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	h, err := commands.New(cfg, r.env.Pub, r.env.Hasher, r.env.JS, r.env.Names, r.q, r.ops, deps.sync, r.store)
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// The /stats chart reads series through ChartSource.
func (f *fakeQuery) GroupDays(_ context.Context, group string, n int) ([]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.charted = append(f.charted, group)
	out := make([]int, n)
	for i := range out {
		out[i] = i % 7
	}
	return out, nil
}

func (f *fakeQuery) GroupWeeklyActive(_ context.Context, _ string, weeks int) ([]int, error) {
	out := make([]int, weeks)
	for i := range out {
		out[i] = i + 2
	}
	return out, nil
}
