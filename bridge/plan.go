package bridge

import (
	"fmt"
	"strings"
	"time"

	"github.com/relais-bot/relais/events"
)

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

// memberCall is one member's part of a batch: what memberLua is called with, or what the
// plain path writes in its stead.
type memberCall struct {
	token string
	// keep is how many days of counts the member keeps, clock the clock's day, ttl the
	// life of their keys in seconds, floor the sequence every event up to was applied.
	keep, clock int
	ttl         int64
	floor       uint64
	events      []memberEvent
	seqs        []uint64 // each event's sequence
	sender      []int    // index of the plan of each event where this member is the sender, else -1
}

// memberEvent is one event of a member call: one of the member's own (kind j, l, m or r),
// or a credit they received from someone else's (kind c).
type memberEvent struct {
	seq                uint64
	kind               string
	day                int
	at                 int64 // Unix milliseconds
	stamp              string
	group, title       string
	platform, pid      string
	name, first, last  string // the member's identity, on their own events
	username, phone    string
	credited           string // the members their own event credited, comma-separated
	from               string // who gave a credit
	replied, mentioned bool
	reacted            bool
}

// args are memberLua's arguments for the call.
func (c *memberCall) args() []any {
	out := make([]any, 0, 4+memberArgsPerEvent*len(c.events))
	out = append(out, c.keep, c.clock, c.ttl, c.floor)
	for _, e := range c.events {
		if e.kind == "c" {
			out = append(out, e.seq, e.kind, e.day, e.at, e.stamp, e.group, e.title, e.platform, e.pid,
				e.from, bit(e.replied), bit(e.mentioned), bit(e.reacted), "", "")
			continue
		}
		out = append(out, e.seq, e.kind, e.day, e.at, e.stamp, e.group, e.title, e.platform, e.pid,
			e.name, e.first, e.last, e.username, e.phone, e.credited)
	}
	return out
}

// groupCall is one group's part of a batch.
type groupCall struct {
	token string
	keys  []string
	// floor is the sequence every event up to was applied, mapTTL the life of the author
	// maps in seconds, keep how many days of counts the group keeps, size the messages of
	// one author map.
	floor      uint64
	mapTTL     int64
	keep, size int
	events     []groupEvent
	seqs       []uint64 // each event's sequence
	// authors are the members the batch's messages in the group count for, each once: the
	// plain path reads their last message day.
	authors []string
}

// groupEvent is one event of a group call.
type groupEvent struct {
	seq          uint64
	kind         string
	day          int
	member       string // "" for an event that counts anonymously
	stamp, title string
	platform     string
	msgID        string // the message's platform id, for the author maps; "" unmapped
	from         string // the group token the group migrated from
	chat         string
	hour         string // the hour-of-week field of a message (hourField)
}

// args are groupLua's arguments for the call.
func (g *groupCall) args() []any {
	out := make([]any, 0, 4+groupArgsPerEvent*len(g.events))
	out = append(out, g.floor, g.mapTTL, g.keep, g.size)
	for _, e := range g.events {
		out = append(out, e.seq, e.kind, e.day, e.member, e.stamp, e.title, e.platform, e.msgID, e.from, e.chat, e.hour)
	}
	return out
}

func bit(v bool) int {
	if v {
		return 1
	}
	return 0
}

// batchWrites is what a batch writes, decided from its plans without reading anything: both
// write paths carry out the same one, with the scripts (write_lua.go) or with plain commands
// (write_plain.go).
type batchWrites struct {
	members []*memberCall
	groups  []*groupCall
	traces  []creditTrace
	// outcome is, per plan: -1 ignored, -2 applied without a member call (a sender not in
	// full standing), 0 until the write reports its sender's call applied.
	outcome []int
}

// creditTrace is a plain write for a sender not in full standing: the members their event
// credited, kept so that a later erasure finds the trace of these credits.
type creditTrace struct {
	key     string
	members []any
}

// writes plans a batch's writes: one memberCall per member the batch touches, with all that
// member's events, and one groupCall per group.
func (b *Bridge) writes(plans []*plan, floor uint64, clockDay int) batchWrites {
	ttl := int64(b.cfg.DedupTTL / time.Second)
	mapLife := 2*b.cfg.Window + day
	if b.cfg.Retention > 0 {
		mapLife = min(mapLife, b.cfg.Retention)
	}
	mapTTL := int64(mapLife / time.Second)
	mapDays := int(mapLife / day)
	keep := b.bars.windowDays + b.bars.holdDays + b.bars.dormantDays
	var (
		members []*memberCall
		groups  []*groupCall
		byM     = map[string]*memberCall{}
		byG     = map[string]*groupCall{}
	)
	member := func(m string) *memberCall {
		c := byM[m]
		if c == nil {
			c = &memberCall{token: m, keep: keep, clock: clockDay, ttl: ttl, floor: floor}
			byM[m] = c
			members = append(members, c)
		}
		return c
	}
	group := func(g string) *groupCall {
		c := byG[g]
		if c == nil {
			c = &groupCall{token: g, keys: b.keys.groupKeys(g), floor: floor, mapTTL: mapTTL, keep: keep, size: b.cfg.AuthorMapSize}
			byG[g] = c
			groups = append(groups, c)
		}
		return c
	}
	var traces []creditTrace
	authored := map[[2]string]bool{} // group, member: in the group's authors
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
			c.events = append(c.events, memberEvent{seq: p.seq, kind: kind, day: p.day, at: ev.At.UnixMilli(),
				stamp: p.stamp, group: p.group, title: ev.Group.Title, platform: string(ev.Platform), pid: p.pid,
				name: ev.Sender.Name, first: ev.Sender.FirstName, last: ev.Sender.LastName,
				username: ev.Sender.Username, phone: ev.Sender.Phone, credited: strings.Join(credited, ",")})
			c.seqs, c.sender = append(c.seqs, p.seq), append(c.sender, i)
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
				traces = append(traces, creditTrace{key: b.keys.credited(p.sender), members: anyCredited})
			}
		}
		g := group(p.group)
		hour := ""
		if ev.Kind == events.KindMessage {
			hour = hourField(p.day, ev.At, b.cfg.Zone)
		}
		g.events = append(g.events, groupEvent{seq: p.seq, kind: kind, day: p.day, member: groupMember, stamp: p.stamp,
			title: ev.Group.Title, platform: string(ev.Platform), msgID: msgID, from: p.from, chat: ev.Group.ID, hour: hour})
		g.seqs = append(g.seqs, p.seq)
		if groupMember != "" && kind == "m" && !authored[[2]string{p.group, groupMember}] {
			authored[[2]string{p.group, groupMember}] = true
			g.authors = append(g.authors, groupMember)
		}
		for _, cr := range p.credits {
			c := member(cr.member)
			c.events = append(c.events, memberEvent{seq: p.seq, kind: "c", day: p.day, at: ev.At.UnixMilli(),
				stamp: p.stamp, group: p.group, title: ev.Group.Title, platform: string(ev.Platform), pid: cr.pid,
				from: p.sender, replied: cr.replied, mentioned: cr.mentioned, reacted: cr.reacted})
			c.seqs, c.sender = append(c.seqs, p.seq), append(c.sender, -1)
		}
	}
	return batchWrites{members: members, groups: groups, traces: traces, outcome: senderOutcome}
}
