package bridge

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/relais-bot/relais/events"
)

// streamShape is a synthetic but realistic conversation: members with skewed activity in a
// few groups over seven weeks, replies, mentions by id and by username, reactions credited
// through the message they point at, joins, leaves, name changes, a group migration,
// commands, private messages, and a few events that break a rule.
type streamShape struct {
	events  int
	members int
	seed    uint64
	// gap is how many events back a reaction's message or a mentioned username must be, so
	// that any order two consumers apply batches in resolves them the same way.
	gap int
}

var groupTitles = []string{"Entraide Belleville", "Équipe Écoles Nord", "Quartier Saint-Michel", "Campagne 2027"}

// generate returns the events in stream order, and how many of them break a rule.
func (s streamShape) generate(now time.Time) (evs []events.Event, bad int) {
	r := rand.New(rand.NewPCG(s.seed, 42))
	start := now.Add(-49 * 24 * time.Hour)
	step := now.Add(-time.Hour).Sub(start) / time.Duration(s.events)
	type member struct {
		id, username, phone string
		groups              []int
		weight              float64
		seen                int // position of first event, -1 before
	}
	members := make([]*member, s.members)
	total := 0.0
	for i := range members {
		m := &member{id: fmt.Sprint(1000 + i), seen: -1, weight: 1 / float64(i+1)}
		if i%3 != 0 {
			m.username = fmt.Sprintf("Vol_%d", i)
		}
		if i%5 == 0 {
			m.phone = fmt.Sprintf("+3361234%04d", i)
		}
		m.groups = []int{i % len(groupTitles)}
		if i%4 == 0 {
			m.groups = append(m.groups, (i+1)%len(groupTitles))
		}
		members[i] = m
		total += m.weight
	}
	pick := func() *member {
		x := r.Float64() * total
		for _, m := range members {
			if x -= m.weight; x <= 0 {
				return m
			}
		}
		return members[len(members)-1]
	}
	var msgs []posted
	groupOf := func(g, pos int) *events.Group {
		// The last group migrates to a supergroup halfway through.
		if g == 3 && pos >= s.events/2 {
			grp := &events.Group{ID: "-1003000", Title: groupTitles[g]}
			if pos == s.events/2 {
				grp.MigratedFrom = "-1003"
			}
			return grp
		}
		return &events.Group{ID: fmt.Sprint(-1000 - g), Title: groupTitles[g]}
	}
	for pos := 0; pos < s.events; pos++ {
		m := pick()
		if pos == s.events/2 {
			m = members[3] // someone posts the migration's first event
		}
		g := m.groups[r.IntN(len(m.groups))]
		if pos == s.events/2 {
			g = 3
		}
		// Adapters deliver nearly in order: jitter of up to two hours.
		at := start.Add(step*time.Duration(pos) + time.Duration(r.IntN(7200)-3600)*time.Second).Truncate(time.Millisecond)
		name := "Bénévole " + m.id
		if pos > s.events/2 && m.id[len(m.id)-1] == '0' {
			name = "Bénévole " + m.id + " (nouveau nom)"
		}
		ev := events.Event{
			V: events.Version, Platform: events.Telegram, At: at, Group: groupOf(g, pos),
			Sender: events.Member{ID: m.id, Name: name, FirstName: "Bénévole", LastName: m.id, Username: m.username, Phone: m.phone},
		}
		ev.ID = fmt.Sprintf("telegram:%s:%d", ev.Group.ID, pos)
		roll := r.Float64()
		switch {
		case m.seen < 0 && r.IntN(2) == 0:
			ev.Kind = events.KindJoin
		case roll < 0.01:
			ev.Kind = events.KindLeave
		case roll < 0.015:
			ev.Kind, ev.Command = events.KindCommand, &events.Command{Name: "stats"}
		case roll < 0.02:
			ev.Kind, ev.Group = events.KindMessage, nil // a private message to the bot
			ev.ID = "telegram:dm:" + fmt.Sprint(pos)
		case roll < 0.12:
			ev.Kind = events.KindReaction
			ev.ID += ":r"
			if old := earlier(msgs, pos-s.gap, r); old != nil {
				ev.Group = old.group // a reaction happens where the message is
				ev.Target = fmt.Sprint(old.pos)
				if r.IntN(2) == 0 {
					ev.ReplyTo = old.author
				}
			}
		default:
			ev.Kind = events.KindMessage
			ev.Chars = 1 + r.IntN(400)
			if r.Float64() < 0.3 && len(msgs) > 0 {
				old := msgs[max(0, len(msgs)-1-r.IntN(20))]
				ev.ReplyTo = old.author
			}
			if r.Float64() < 0.15 {
				o := members[r.IntN(len(members))]
				switch {
				case o.username != "" && o.seen >= 0 && o.seen < pos-s.gap:
					ev.Mentions = append(ev.Mentions, "@"+o.username)
				default:
					ev.Mentions = append(ev.Mentions, o.id)
				}
			}
		}
		if ev.Kind == events.KindMessage && ev.Group != nil {
			msgs = append(msgs, posted{id: ev.ID, author: m.id, group: ev.Group, pos: pos})
		}
		if ev.Kind != events.KindCommand && ev.Group != nil && m.seen < 0 {
			m.seen = pos
		}
		if pos%2500 == 1 { // a join outside any group: breaks a rule
			ev.Kind, ev.Group, ev.Command, ev.ReplyTo, ev.Mentions, ev.Target = events.KindJoin, nil, nil, "", nil, ""
			bad++
		}
		evs = append(evs, ev)
	}
	return evs, bad
}

// posted is a group message a later event may point at.
type posted struct {
	id, author string
	group      *events.Group
	pos        int
}

// earlier picks one of the 200 messages posted before position limit.
func earlier(msgs []posted, limit int, r *rand.Rand) *posted {
	n, _ := slices.BinarySearchFunc(msgs, limit, func(m posted, l int) int { return m.pos - l })
	if n == 0 {
		return nil
	}
	return &msgs[max(0, n-1-r.IntN(200))]
}
