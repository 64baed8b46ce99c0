package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// maxMentions bounds the members one event may credit.
const maxMentions = 100

// Rule violations: the event decoded but can never apply. They are dead-lettered.
var (
	ErrNeedsGroup     = errors.New("event kind needs a group")
	ErrFutureEvent    = errors.New("event time ahead of the clock")
	ErrTooManyMention = errors.New("too many mentions")
	ErrSelfMigration  = errors.New("group migrated from itself")
)

// check applies the rules an event must meet beyond decoding.
func (b *Bridge) check(ev events.Event, now time.Time) error {
	switch {
	case ev.Group == nil && (ev.Kind == events.KindJoin || ev.Kind == events.KindLeave || ev.Kind == events.KindReaction):
		return fmt.Errorf("%w: %s", ErrNeedsGroup, ev.Kind)
	case ev.At.After(now.Add(b.cfg.MaxSkew)):
		return fmt.Errorf("%w: %s later than allowed", ErrFutureEvent, ev.At.Sub(now).Round(time.Second))
	case len(ev.Mentions) > maxMentions:
		return fmt.Errorf("%w: %d, limit %d", ErrTooManyMention, len(ev.Mentions), maxMentions)
	case ev.Group != nil && ev.Group.MigratedFrom != "" && ev.Group.MigratedFrom == ev.Group.ID:
		return ErrSelfMigration
	}
	return nil
}

// positions identify a batch's events in the event stream, for the member and group
// scripts' idempotence (see memberLua).
type positions struct {
	// seqs are each event's stream sequence; for an erasure's copy applied live, the
	// sequence of the original it replaces (events.CopyOf), which the live bridge applied
	// already, unless it never saw it. A replay reads only the copy: its own sequence.
	seqs []uint64
	// floor is a sequence at or under which every event was settled before this batch: the
	// consumer's ack floor live, the end of the previous batch in a replay.
	floor uint64
}

// plan is what one event does: the member calls and the group call it makes.
type plan struct {
	ev      events.Event
	at      int    // index of the event in its batch
	seq     uint64 // what identifies the event in the stream (see positions)
	sender  string
	group   string
	pid     string // the sender's platform id, unless it is an alias of the member's
	from    string // group token the group migrated from
	day     int
	stamp   string
	credits []credit
	act     activity // what the consent gate lets the event do
	skip    bool     // the event changes nothing (act == actNothing)

	// unresolved references, filled in by resolve
	target    string   // platform message id of a reply or reaction with no ReplyTo
	usernames []string // lowercase, without '@'
}

// credit is an interaction a member received from the sender of an event.
type credit struct {
	member, pid                 string
	replied, mentioned, reacted bool
}

func (p *plan) addCredit(member, pid string, set func(*credit)) {
	if member == "" || member == p.sender {
		return // talking to yourself does not make you a leader
	}
	for i := range p.credits {
		if p.credits[i].member == member {
			if p.credits[i].pid == "" {
				p.credits[i].pid = pid
			}
			set(&p.credits[i])
			return
		}
	}
	c := credit{member: member, pid: pid}
	set(&c)
	p.credits = append(p.credits, c)
}

func setReplied(c *credit)   { c.replied = true }
func setMentioned(c *credit) { c.mentioned = true }
func setReacted(c *credit)   { c.reacted = true }

// messageID is the platform message id of an event: the part of its id after the last ':'
// (ids are <platform>:<chat>:<message>), which is what replies and reactions point at.
func messageID(id string) string { return id[strings.LastIndexByte(id, ':')+1:] }

// applyEvents applies a batch of activity events (no commands). It returns, per event, the
// rule violation that keeps it from applying (nil otherwise), and an error when the batch
// must be retried as a whole. Every step is idempotent, so a retry after a partial failure
// only completes what was missing. publish=false (replay) leaves contact changes for later.
func (b *Bridge) applyEvents(ctx context.Context, evs []events.Event, pos positions, publish bool) ([]error, error) {
	errs, states, err := b.applyBatch(ctx, evs, pos)
	if err != nil || !publish || b.pub == nil {
		return errs, err
	}
	return errs, b.settleAll(ctx, states, false)
}

// applyBatch is applyEvents without the contact changes: it returns the state of the members
// the batch touched, for the caller to settle.
func (b *Bridge) applyBatch(ctx context.Context, evs []events.Event, pos positions) ([]error, []memberState, error) {
	if len(pos.seqs) != len(evs) {
		return nil, nil, fmt.Errorf("apply: %d events, %d sequences", len(evs), len(pos.seqs))
	}
	now := b.cfg.Now()
	errs := make([]error, len(evs))
	if err := b.linkAliases(ctx, evs); err != nil {
		return errs, nil, err
	}
	var plans []*plan
	for i, ev := range evs {
		if err := b.check(ev, now); err != nil {
			errs[i] = events.Permanent(err)
			continue
		}
		if ev.Group == nil || ev.Kind == events.KindCommand || ev.Kind == events.KindConsent {
			b.metrics.events.WithLabelValues(outIgnored).Inc() // a private message is not group activity
			continue
		}
		p := b.plan(ev)
		p.at, p.seq = i, pos.seqs[i]
		plans = append(plans, p)
	}
	if len(plans) == 0 {
		return errs, nil, nil
	}
	// What senders may do comes first: which messages the author maps take in depends on it.
	g := newGate(b.consent)
	if err := b.gateSenders(ctx, g, plans); err != nil {
		return errs, nil, err
	}
	if err := b.resolve(ctx, plans, pos.floor); err != nil {
		return errs, nil, err
	}
	if err := b.gateCredits(ctx, g, plans); err != nil {
		return errs, nil, err
	}
	for _, p := range plans {
		if p.skip {
			errs[p.at] = errSuppressed
		}
	}
	states, err := b.write(ctx, plans, pos.floor, dayOf(now))
	return errs, states, err
}

// settleConcurrency bounds the members whose contact state is settled at once.
const settleConcurrency = 32

// settleAll settles the contact state of distinct members: it publishes their contact
// changes concurrently (members are independent, so a batch waits for the slowest member's
// NATS round trips, not for the sum of everyone's), then confirms every member's settled
// fingerprint in one Redis pipeline.
//
// A member whose version moved meanwhile and for whom this call published is settled again,
// as settleContact does: that publish may have replaced the newer state's contact. One whose
// version moved and for whom nothing was published is left to the newer version's writer,
// which settles after writing (a live batch, the sweep, a resync) or is redelivered.
//
// all compares every member's contact with the desired one, settled fingerprint or not: the
// full sweep (at start and daily) so heals a contact a crashed replica left behind a newer
// state it had already confirmed.
func (b *Bridge) settleAll(ctx context.Context, states []memberState, all bool) error {
	// One settle at a time in a process: the settle stage and the sweep deciding the same
	// member at once is the race a crash can leave a stale contact behind (see above).
	b.settleMu.Lock()
	defer b.settleMu.Unlock()
	forced := map[string]bool{}
	if all {
		for _, st := range states {
			forced[st.Token] = true
		}
	}
	for range 5 {
		if b.rebuilding() {
			return nil // decided by the full sweep that ends the rebuild, on the whole state
		}
		moved, err := b.settleRound(ctx, states, forced)
		if err != nil || len(moved) == 0 {
			return err
		}
		if states, err = b.evaluate(ctx, moved); err != nil {
			return err
		}
		forced = map[string]bool{}
		for _, m := range moved {
			forced[m] = true
		}
	}
	// Still moving: the batch is redelivered rather than acked on a contact maybe older
	// than the state.
	return fmt.Errorf("settle contacts: %d members still moving", len(forced))
}

// unsettled keeps the candidates whose fingerprint is still not settled when read now. A
// live batch's states were read while the batch before it was settling, so the settled
// fingerprint they carry is often older than the one that settle confirmed: without this
// read, a member active in every batch would be decided again at every batch. Forced members
// are kept without a read.
func (b *Bridge) unsettled(ctx context.Context, candidates []memberState, forced map[string]bool) ([]memberState, error) {
	fps := make([]*redis.StringCmd, len(candidates))
	if _, err := b.scripts.pipeline(ctx, b.rdb, func(p redis.Pipeliner) {
		for i, st := range candidates {
			if !forced[st.Token] {
				fps[i] = p.HGet(ctx, b.keys.memberKeys(st.Token)[0], "pubfp")
			}
		}
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("settled fingerprints: %w", err)
	}
	var todo []memberState
	for i, st := range candidates {
		if fps[i] == nil || fps[i].Val() != st.FP {
			todo = append(todo, st)
		}
	}
	return todo, nil
}

// settleRound publishes the contact changes of the members whose fingerprint is not settled
// (or who are forced), confirms them, and returns those it published for whose version moved.
func (b *Bridge) settleRound(ctx context.Context, states []memberState, forced map[string]bool) ([]string, error) {
	var candidates []memberState
	for _, st := range states {
		if st.Applied >= 0 && (st.FP != st.PubFP || forced[st.Token]) {
			candidates = append(candidates, st)
		}
	}
	todo, err := b.unsettled(ctx, candidates, forced)
	if err != nil || len(todo) == 0 {
		return nil, err
	}
	known := b.lastChanges(ctx, todo)
	published := make([]bool, len(todo))
	none := make([]bool, len(todo))
	sem := make(chan struct{}, settleConcurrency)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, st := range todo {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var last *lastRead
			if r, ok := known[st.Token]; ok {
				last = &r
			}
			p, n, err := b.publishContact(ctx, st, last)
			published[i], none[i] = p, n
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	vers := make([]*redis.StringCmd, len(todo))
	if _, err := b.scripts.pipeline(ctx, b.rdb, func(p redis.Pipeliner) {
		for i, st := range todo {
			h := b.keys.memberKeys(st.Token)[0]
			mark := ""
			if none[i] {
				mark = crmNone
			}
			b.scripts.confirm.EvalSha(ctx, p, []string{h}, st.FP, st.Ver, mark)
			vers[i] = p.HGet(ctx, h, "ver")
		}
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("confirm contact: %w", err)
	}
	var moved []string
	for i, st := range todo {
		ver, err := vers[i].Int64()
		if errors.Is(err, redis.Nil) || (err == nil && ver == st.Ver) || !published[i] {
			continue
		}
		moved = append(moved, st.Token)
	}
	return moved, nil
}

func (b *Bridge) plan(ev events.Event) *plan {
	own := b.hash.Member(ev.Platform, ev.Sender.ID)
	p := &plan{
		ev:     ev,
		sender: b.canonical(own),
		group:  b.hash.Group(ev.Platform, ev.Group.ID),
		day:    dayOf(ev.At),
		stamp:  fmt.Sprintf("%015d|%s", max(ev.At.UnixMilli(), 0), b.hash.Event(ev.ID)),
	}
	if p.sender == own {
		p.pid = ev.Sender.ID
	}
	if ev.Group.MigratedFrom != "" {
		p.from = b.hash.Group(ev.Platform, ev.Group.MigratedFrom)
	}
	if ev.Kind != events.KindMessage && ev.Kind != events.KindReaction {
		return p
	}
	set := setReplied
	if ev.Kind == events.KindReaction {
		set = setReacted
	}
	switch {
	case ev.ReplyTo != "":
		member, pid := b.creditee(ev.Platform, ev.ReplyTo)
		p.addCredit(member, pid, set)
	case ev.Target != "":
		p.target = messageID(ev.Target)
	}
	if ev.Kind == events.KindMessage {
		for _, m := range ev.Mentions {
			if name, ok := strings.CutPrefix(m, "@"); ok {
				if name = strings.ToLower(name); name != "" {
					p.usernames = append(p.usernames, name)
				}
				continue
			}
			if m != "" {
				member, pid := b.creditee(ev.Platform, m)
				p.addCredit(member, pid, setMentioned)
			}
		}
	}
	return p
}

// creditee is the member a platform id names, and the id to record as theirs: none when the
// id is an alias (the member's own id is recorded by their own events), so the state does not
// depend on which of a person's ids an event happened to use.
func (b *Bridge) creditee(p events.Platform, id string) (member, pid string) {
	tok := b.hash.Member(p, id)
	member = b.canonical(tok)
	if member == tok {
		pid = id
	}
	return member, pid
}

// authorMapMessages is the default Config.AuthorMapSize. A reaction, and a reply whose
// platform names only the message it answers, credit that message's author when it is among
// the group's last authorMapMessages to twice that messages (see keys.authorMap): a product
// decision. Answers go to recent messages, and a bound on messages rather than on time keeps
// Redis memory growing with groups, not with traffic: at most 4000 entries per group (about
// 0.3 MiB), where a time window held every message of one to two months of a busy group.
const authorMapMessages = 2000

// resolve finds the members behind message ids and usernames: first among the events of the
// batch before the one resolved (a reaction to a message of the same batch), then in Redis.
// An unknown reference credits nobody. It needs the senders' gate decisions (gateSenders):
// only a message of a sender in full standing is mapped to its author.
//
// A message id is looked up where groupLua left it when it applied the events before the
// one resolved, one at a time: a message the maps turned over since the batch began is out
// of reach even if Redis still holds it, so that a replay, whose batches are not the live
// ones, credits exactly the same people. That needs the group's message count and which of
// the batch's messages are new to it (the others, redelivered, are not counted again).
func (b *Bridge) resolve(ctx context.Context, plans []*plan, floor uint64) error {
	type lookup struct {
		p    *plan
		kind byte // 't' target, 'u' username
		name string
		cmds []*redis.StringCmd // 't': current then previous author map
	}
	type groupReads struct {
		hash  *redis.SliceCmd // xf, tn
		seqs  []uint64        // the batch's messages in the group, in order
		saved *redis.FloatSliceCmd
	}
	var lookups []*lookup
	groups := map[string]*groupReads{}
	for _, p := range plans {
		if p.act == actNothing || p.act == actAnonymous {
			continue // credits nobody
		}
		if p.target != "" {
			lookups = append(lookups, &lookup{p: p, kind: 't', name: p.target})
			groups[p.group] = &groupReads{}
		}
		for _, u := range p.usernames {
			lookups = append(lookups, &lookup{p: p, kind: 'u', name: u})
		}
	}
	for _, p := range plans {
		if gr := groups[p.group]; gr != nil && counted(p) {
			gr.seqs = append(gr.seqs, p.seq)
		}
	}
	if len(lookups) > 0 {
		_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, l := range lookups {
				if l.kind == 't' {
					l.cmds = []*redis.StringCmd{
						pipe.HGet(ctx, b.keys.authorMap(l.p.group), l.name),
						pipe.HGet(ctx, b.keys.authorMapPrev(l.p.group), l.name),
					}
				} else {
					l.cmds = []*redis.StringCmd{pipe.HGet(ctx, b.keys.usernames(), l.name)}
				}
			}
			for g, gr := range groups {
				gk := b.keys.groupKeys(g)
				gr.hash = pipe.HMGet(ctx, gk[0], "xf", "tn")
				if !b.cfg.SingleWriter && len(gr.seqs) > 0 {
					ms := make([]string, len(gr.seqs))
					for i, q := range gr.seqs {
						ms[i] = strconv.FormatUint(q, 10)
					}
					gr.saved = pipe.ZMScore(ctx, gk[4], ms...)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("resolve: %w", err)
		}
	}
	// The group's message count before the batch, and whether each of its messages is new.
	base, fresh := map[string]int{}, map[*plan]bool{}
	for g, gr := range groups {
		h := gr.hash.Val()
		if len(h) == 2 {
			base[g] = int(asInt(h[1]))
		}
		var isNew []bool
		if b.cfg.SingleWriter {
			isNew = b.dedup.check(b.keys.groupKeys(g)[4], floor, gr.seqs)
		} else {
			f := floor
			if len(h) == 2 {
				f = max(f, uint64(asInt(h[0])))
			}
			var saved []float64 // 0: not applied (sequences start at 1)
			if gr.saved != nil {
				if err := gr.saved.Err(); err != nil {
					return fmt.Errorf("resolve: applied sequences: %w", err)
				}
				saved = gr.saved.Val()
			}
			seen := map[uint64]bool{}
			for i, q := range gr.seqs {
				isNew = append(isNew, q > f && !seen[q] && saved[i] == 0)
				seen[q] = true
			}
		}
		i := 0
		for _, p := range plans {
			if p.group == g && counted(p) {
				fresh[p] = isNew[i]
				i++
			}
		}
	}
	byPlan := map[*plan][]*lookup{}
	for _, l := range lookups {
		byPlan[l.p] = append(byPlan[l.p], l)
	}
	type authored struct {
		member string
		at     int // the group's message count before the message
	}
	size := b.cfg.AuthorMapSize
	count := maps.Clone(base)        // group → messages counted up to the plan
	authors := map[string]authored{} // group \x00 message id → author, from this batch
	users := map[string]string{}     // username → member, from this batch
	for _, p := range plans {
		for _, l := range byPlan[p] {
			var found string
			if l.kind == 't' {
				// Generations still in reach: the plan's and the one before.
				gen, gen0 := count[p.group]/size, base[p.group]/size
				if a, ok := authors[p.group+"\x00"+l.name]; ok && a.at/size >= gen-1 {
					found = a.member
				}
				if found == "" && gen0 >= gen-1 {
					found = l.cmds[0].Val()
				}
				if found == "" && gen0 == gen {
					found = l.cmds[1].Val()
				}
			} else if found = users[l.name]; found == "" {
				found = l.cmds[0].Val()
			}
			switch {
			case l.kind == 't' && p.ev.Kind == events.KindReaction:
				p.addCredit(found, "", setReacted)
			case l.kind == 't':
				p.addCredit(found, "", setReplied)
			default:
				p.addCredit(found, "", setMentioned)
			}
		}
		if fresh[p] {
			if id := messageID(p.ev.ID); p.act == actFull && id != "" {
				authors[p.group+"\x00"+id] = authored{p.sender, count[p.group]}
			}
			count[p.group]++
		}
		if u := strings.ToLower(p.ev.Sender.Username); u != "" {
			users[u] = p.sender
		}
	}
	return nil
}

// counted says whether an event counts among its group's messages (groupLua's count),
// provided it is new to the group.
func counted(p *plan) bool { return !p.skip && senderKind(p.ev.Kind) == "m" }

// errSuppressed marks an event the consent gate refuses entirely: an objector's event from
// after their objection, or an erased member's. It is not an error: the live path deletes it
// from the log (relais must not keep what it may not process) and acks it.
var errSuppressed = errors.New("sender objected or was erased")

// gateSenders asks the consent gate what each event may do: an objector's events from before
// their objection only credit others, later ones and an erased member's change nothing, an
// erasure pseudonym only counts in its group.
func (b *Bridge) gateSenders(ctx context.Context, g *gate, plans []*plan) error {
	for _, p := range plans {
		d, err := g.decide(ctx, p.sender, "")
		if err != nil {
			return err
		}
		p.act = senderActivity(d, events.Pseudonymous(p.ev.Sender.ID), p.ev.At)
		p.skip = p.act == actNothing
	}
	return nil
}

// gateCredits keeps the credits the consent gate allows: only an event of a sender in full
// standing or from before their objection credits anyone, and nobody is credited for talking
// to someone who objected or was erased.
func (b *Bridge) gateCredits(ctx context.Context, g *gate, plans []*plan) error {
	for _, p := range plans {
		if p.act == actNothing || p.act == actAnonymous {
			p.credits = nil
			continue
		}
		kept := p.credits[:0]
		for _, c := range p.credits {
			d, err := g.decide(ctx, c.member, "")
			if err != nil {
				return err
			}
			if mayCredit(d, p.ev.At) {
				kept = append(kept, c)
			}
		}
		p.credits = kept
	}
	return nil
}

func senderKind(k events.Kind) string {
	switch k {
	case events.KindJoin:
		return "j"
	case events.KindLeave:
		return "l"
	case events.KindReaction:
		return "r"
	}
	return "m"
}

// memberArgsPerEvent and groupArgsPerEvent are the values per event of memberLua and groupLua.
const (
	memberArgsPerEvent = 15
	groupArgsPerEvent  = 11
)

// memberCall is one member's part of a batch: the memberLua arguments of its events.
type memberCall struct {
	token  string
	args   []any
	sender []int // index of the plan of each event where this member is the sender, else -1
}

// groupCall is one group's part of a batch.
type groupCall struct {
	token string
	keys  []string
	args  []any
}

// write applies a batch in one pipeline: one memberLua call per member the batch touches,
// with all that member's events, and one groupLua call per group. It then decides the
// members' tags in Go and stores them with the indexes in a second pipeline. It returns the
// state of those members, sorted by token.
func (b *Bridge) write(ctx context.Context, plans []*plan, floor uint64, clockDay int) ([]memberState, error) {
	ttl := int64(b.cfg.DedupTTL / time.Second)
	mapLife := 2*b.cfg.Window + day
	if b.cfg.Retention > 0 {
		mapLife = min(mapLife, b.cfg.Retention)
	}
	mapTTL := int64(mapLife / time.Second)
	mapDays := int(mapLife / day)
	keep := b.bars.windowDays + b.bars.holdDays + b.bars.dormantDays
	header := []any{keep, clockDay, ttl, floor}
	var (
		members []*memberCall
		groups  []*groupCall
		byM     = map[string]*memberCall{}
		byG     = map[string]*groupCall{}
	)
	member := func(m string) *memberCall {
		c := byM[m]
		if c == nil {
			c = &memberCall{token: m, args: slices.Clone(header)}
			byM[m] = c
			members = append(members, c)
		}
		return c
	}
	group := func(g string) *groupCall {
		c := byG[g]
		if c == nil {
			c = &groupCall{token: g, keys: b.keys.groupKeys(g), args: []any{floor, mapTTL, keep, b.cfg.AuthorMapSize}}
			byG[g] = c
			groups = append(groups, c)
		}
		return c
	}
	var (
		extra []func(redis.Pipeliner) // plain writes for senders not in full standing
		err   error
	)
	senderOutcome := make([]int, len(plans))
	for i, p := range plans {
		if p.skip {
			senderOutcome[i] = -1
			continue
		}
		ev := p.ev
		kind := senderKind(ev.Kind)
		credited := make([]string, len(p.credits))
		for j, c := range p.credits {
			credited[j] = c.member
		}
		// Only a member in full standing is a member of the group: an objector's earlier
		// events and an erasure's pseudonym count in the group's days, anonymously.
		groupMember, msgID := "", ""
		if p.act == actFull {
			c := member(p.sender)
			c.args = append(c.args, p.seq, kind, p.day, ev.At.UnixMilli(), p.stamp, p.group, ev.Group.Title,
				string(ev.Platform), p.pid, ev.Sender.Name, ev.Sender.FirstName, ev.Sender.LastName,
				ev.Sender.Username, ev.Sender.Phone, strings.Join(credited, ","))
			c.sender = append(c.sender, i)
			groupMember = p.sender
			// A message older than the maps live is not mapped: a rebuild would otherwise keep
			// who wrote it for another two windows, past the retention period.
			if ev.Kind == events.KindMessage && p.day > clockDay-mapDays {
				msgID = messageID(ev.ID)
			}
		} else {
			senderOutcome[i] = -2
			if len(credited) > 0 {
				// Kept so that a later erasure finds the trace of these credits.
				anyCredited := make([]any, len(credited))
				for j, c := range credited {
					anyCredited[j] = c
				}
				key := b.keys.credited(p.sender)
				extra = append(extra, func(pipe redis.Pipeliner) {
					pipe.SAdd(ctx, key, anyCredited...)
					pipe.Expire(ctx, key, b.cfg.DedupTTL)
				})
			}
		}
		g := group(p.group)
		hour := ""
		if ev.Kind == events.KindMessage {
			hour = hourField(p.day, ev.At, b.cfg.Zone)
		}
		g.args = append(g.args, p.seq, kind, p.day, groupMember, p.stamp, ev.Group.Title, string(ev.Platform), msgID, p.from,
			ev.Group.ID, hour)
		for _, cr := range p.credits {
			c := member(cr.member)
			c.args = append(c.args, p.seq, "c", p.day, ev.At.UnixMilli(), p.stamp, p.group, ev.Group.Title,
				string(ev.Platform), cr.pid, p.sender, bit(cr.replied), bit(cr.mentioned), bit(cr.reacted), "", "")
			c.sender = append(c.sender, -1)
		}
	}
	var (
		applied []string
		states  []memberState
	)
	if b.cfg.SingleWriter {
		// The plain path stores the decisions and indexes in its own write pipeline.
		if applied, states, err = b.writePlain(ctx, members, groups, extra, floor, plans, clockDay); err != nil {
			return nil, err
		}
	} else {
		if applied, states, err = b.writeLuaChunks(ctx, members, groups, extra, plans, clockDay); err != nil {
			return nil, err
		}
	}
	for n, c := range members {
		for j, i := range c.sender {
			if i >= 0 && j < len(applied[n]) && applied[n][j] == '1' {
				senderOutcome[i] = 1
			}
		}
	}
	for i := range plans {
		switch senderOutcome[i] {
		case 1, -2:
			b.metrics.events.WithLabelValues(outApplied).Inc()
		case -1:
			b.metrics.events.WithLabelValues(outIgnored).Inc()
		default:
			b.metrics.events.WithLabelValues(outDuplicate).Inc()
		}
	}
	slices.SortFunc(states, func(a, b memberState) int { return strings.Compare(a.Token, b.Token) })
	return states, nil
}

func bit(v bool) int {
	if v {
		return 1
	}
	return 0
}

// indexChunk bounds the members of one indexLua call: a sweep stores thousands at once, and
// one call holds Redis for every other client while it runs. indexArgsPerMember are the
// values per member of indexLua.
const (
	indexChunk         = 256
	indexArgsPerMember = 7
)

// store records the members' tags (storeLua) and writes their index entries
// (version-guarded) and the groups' (idempotent), in one pipeline.
func (b *Bridge) store(ctx context.Context, states []memberState, plans []*plan) error {
	if b.cfg.SingleWriter {
		return b.storePlain(ctx, states, plans)
	}
	_, err := b.scripts.pipeline(ctx, b.rdb, func(pipe redis.Pipeliner) {
		var index []any
		for _, st := range states {
			if st.Applied < 0 {
				continue
			}
			args := []any{st.readVer, st.Cur, int(st.Bits), st.Msgs, st.Days, st.People, st.FP, bit(st.Settled), len(st.staleDays)}
			for _, f := range st.staleDays {
				args = append(args, f)
			}
			for _, f := range st.stalePeople {
				args = append(args, f)
			}
			b.scripts.store.EvalSha(ctx, pipe, b.keys.memberKeys(st.Token)[:3], args...)
			due := st.Cur
			if st.Settled {
				due = -1
			}
			index = append(index, st.Token, st.Ver, due, st.Msgs, st.People, strings.ToLower(st.Username), searchText(st))
		}
		for j, step := 0, indexChunk*indexArgsPerMember; j < len(index); j += step {
			b.scripts.index.EvalSha(ctx, pipe, b.keys.indexKeys(), index[j:min(j+step, len(index))]...)
		}
		b.groupIndexWrites(ctx, pipe, plans)
	})
	return err
}

// groupIndexWrites add the batch's groups to the group index (idempotent).
func (b *Bridge) groupIndexWrites(ctx context.Context, pipe redis.Pipeliner, plans []*plan) {
	seen := map[string]bool{}
	for _, p := range plans {
		if p.skip || seen[p.group+p.from] {
			continue
		}
		seen[p.group+p.from] = true
		pipe.SAdd(ctx, b.keys.groups(), p.group)
		if p.from != "" {
			pipe.HSet(ctx, b.keys.groupAlias(), p.from, p.group)
		}
	}
}

// searchText is what FindMembers matches: folded names and username.
func searchText(st memberState) string {
	parts := []string{fold(st.Name), fold(strings.TrimSpace(st.First + " " + st.Last)), fold(st.Username)}
	if strings.Join(parts, "") == "" {
		return ""
	}
	return strings.Join(parts, "\x00")
}

// evaluate re-evaluates members at the clock (the sweep, a resync), stores what the rules
// decide and returns their states; unknown members come back with Applied -1.
func (b *Bridge) evaluate(ctx context.Context, members []string) ([]memberState, error) {
	clockDay := dayOf(b.cfg.Now())
	var reads []stateReads
	if _, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, m := range members {
			reads = append(reads, readMember(ctx, pipe, b.keys, m))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	out := make([]memberState, len(members))
	for i, m := range members {
		var err error
		if out[i], err = b.readState(m, reads[i], clockDay); err != nil {
			return nil, err
		}
	}
	if err := b.store(ctx, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// writeChunk is how many members' scripts one pipeline of writeLuaChunks carries, and
// writePipelines how many of those run at once: a replay batch may touch thousands of
// members, and the settle stage, the sweep and the queries share the connection pool.
const (
	writeChunk     = 128
	writePipelines = 4
)

// writeLuaChunks writes a batch with the scripts: the members in chunks of writeChunk, each in
// its own pipeline (its members' scripts, then the tag decisions stored), the groups and the
// plain writes in another, writePipelines at once. Members and groups are independent, and
// Redis runs one pipeline while the bridge encodes the next and decides the tags of the one
// before: in one pipeline, relais bench found the batch loop waiting on one or the other in
// turn. It returns the scripts' applied flags and the members' states, in the order of
// members.
func (b *Bridge) writeLuaChunks(ctx context.Context, members []*memberCall, groups []*groupCall, extra []func(redis.Pipeliner), plans []*plan, clockDay int) ([]string, []memberState, error) {
	applied := make([]string, len(members))
	states := make([]memberState, len(members))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		first = cmp.Or(first, err)
		mu.Unlock()
	}
	wg.Go(func() {
		if _, err := b.scripts.pipeline(ctx, b.rdb, func(pipe redis.Pipeliner) {
			for _, g := range groups {
				b.scripts.group.EvalSha(ctx, pipe, g.keys, g.args...)
			}
			for _, f := range extra {
				f(pipe)
			}
			b.groupIndexWrites(ctx, pipe, plans)
		}); err != nil {
			fail(err)
		}
	})
	sem := make(chan struct{}, writePipelines)
	for lo := 0; lo < len(members); lo += writeChunk {
		hi := min(lo+writeChunk, len(members))
		sem <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			<-sem
			break // the batch is retried whole
		}
		wg.Go(func() {
			defer func() { <-sem }()
			flags, reads, err := b.writeLua(ctx, members[lo:hi])
			if err != nil {
				fail(err)
				return
			}
			for n, c := range members[lo:hi] {
				if states[lo+n], err = b.readState(c.token, reads[n], clockDay); err != nil {
					fail(err)
					return
				}
				applied[lo+n] = flags[n]
			}
			if err := b.store(ctx, states[lo:hi], nil); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, nil, first
	}
	return applied, states, nil
}

// writeLua runs the member scripts of some members in one pipeline, each member's state read
// right after its script; it returns the scripts' applied flags and the reads.
func (b *Bridge) writeLua(ctx context.Context, members []*memberCall) ([]string, []stateReads, error) {
	var (
		flags []*redis.Cmd
		reads []stateReads
	)
	_, err := b.scripts.pipeline(ctx, b.rdb, func(pipe redis.Pipeliner) {
		flags, reads = flags[:0], reads[:0]
		for _, c := range members {
			flags = append(flags, b.scripts.member.EvalSha(ctx, pipe, b.keys.memberScriptKeys(c.token), c.args...))
			reads = append(reads, readMember(ctx, pipe, b.keys, c.token))
		}
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = asString(f.Val())
	}
	return out, reads, nil
}
