package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

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
