package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// Query answers the questions organisers ask (stats, most active members, leaders, one
// member's card) from the state the bridge keeps. It only reads.
type Query struct {
	cfg     Config
	keys    keys
	rdb     redis.UniversalClient
	consent Consent // the gate: nobody who objected or was erased is ever shown
}

// NewQuery returns the read side over a bridge's Redis, with the bridge's configuration.
func NewQuery(cfg Config, rdb redis.UniversalClient) (*Query, error) {
	if rdb == nil {
		return nil, errors.New("query: redis client is required")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Query{cfg: cfg, keys: keys{prefix: cfg.KeyPrefix}, rdb: rdb, consent: PolicyOnly(cfg.Policy)}, nil
}

// GroupStats describes one group. A Telegram group that migrated to a supergroup is one group:
// the supergroup's token, with the history of both.
type GroupStats struct {
	Token, Title string
	// Chat is the group's platform id (what the platform is asked about membership); empty
	// for a group not seen since relais started recording it.
	Chat     string
	Platform events.Platform
	// MembersSeen is everyone seen in the group; Active7 and Active30 those who posted in the
	// last 7 and 30 days (today included).
	MembersSeen, Active7, Active30 int
	MessagesPerDay                 []int // last 14 days, oldest first, today last
}

// MemberCard describes one member. Messages, ActiveDays and People are counted in the
// activity window; RepliesReceived too: the replies, mentions and reactions they received
// there (an erasure withdraws the erased member's, which a lifetime counter could not).
type MemberCard struct {
	Token, Name, Username, Phone string
	Platform                     events.Platform
	Groups                       []string
	// InGroups are the groups with their tokens: what scopes filter on.
	InGroups []GroupRef
	// Before are Messages, ActiveDays and People in the window that ended seven days ago:
	// what the weekly digest compares with to say who rose and who faded.
	Before                       struct{ Messages, ActiveDays, People int }
	Messages, ActiveDays, People int
	RepliesReceived              int
	FirstSeen, LastSeen          time.Time
	Tags                         []string
}

const statsDays = 14

// GroupRef is one group a member was seen in: token and title.
type GroupRef = groupRef

// Groups returns every group, sorted by title.
func (q *Query) Groups(ctx context.Context) ([]GroupStats, error) {
	tokens, err := q.rdb.SMembers(ctx, q.keys.groups()).Result()
	if err != nil {
		return nil, fmt.Errorf("query groups: %w", err)
	}
	alias, err := q.rdb.HGetAll(ctx, q.keys.groupAlias()).Result()
	if err != nil {
		return nil, fmt.Errorf("query groups: %w", err)
	}
	var out []GroupStats
	for _, t := range tokens {
		if _, old := alias[t]; old {
			continue // shown under the group it migrated to
		}
		g, ok, err := q.group(ctx, t, alias)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b GroupStats) int {
		return cmp.Or(strings.Compare(fold(a.Title), fold(b.Title)), strings.Compare(a.Token, b.Token))
	})
	return out, nil
}

// Group returns one group by token (a migrated group's old token finds the new group).
func (q *Query) Group(ctx context.Context, group string) (GroupStats, bool, error) {
	alias, err := q.rdb.HGetAll(ctx, q.keys.groupAlias()).Result()
	if err != nil {
		return GroupStats{}, false, fmt.Errorf("query group: %w", err)
	}
	return q.group(ctx, group, alias)
}

// FindGroup returns the groups whose title contains title, ignoring case and accents.
func (q *Query) FindGroup(ctx context.Context, title string) ([]GroupStats, error) {
	all, err := q.Groups(ctx)
	if err != nil {
		return nil, err
	}
	want := fold(strings.TrimSpace(title))
	var out []GroupStats
	for _, g := range all {
		if strings.Contains(fold(g.Title), want) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (q *Query) group(ctx context.Context, group string, alias map[string]string) (GroupStats, bool, error) {
	for range 8 { // follow migrations (a chain is possible, a loop is not)
		next, ok := alias[group]
		if !ok {
			break
		}
		group = next
	}
	tokens := []string{group}
	for old, cur := range alias {
		if cur == group {
			tokens = append(tokens, old)
		}
	}
	today := dayOf(q.cfg.Now())
	dayFields := make([]string, statsDays)
	for i := range dayFields {
		dayFields[i] = strconv.Itoa(today - statsDays + 1 + i)
	}
	type reads struct {
		hash            *redis.MapStringStringCmd
		members         *redis.StringSliceCmd
		active7, active *redis.StringSliceCmd
		days            *redis.SliceCmd
		// Without a migration, counts: nobody to count once across two sets, and a big
		// group's members are not sent over for their number.
		count, count7, count30 *redis.IntCmd
	}
	rs := make([]reads, len(tokens))
	since7, since30 := "("+strconv.Itoa(today-7), "("+strconv.Itoa(today-30)
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tokens {
			rs[i] = reads{hash: p.HGetAll(ctx, q.keys.groupHash(t)), days: p.HMGet(ctx, q.keys.groupDays(t), dayFields...)}
			if len(tokens) == 1 {
				rs[i].count = p.SCard(ctx, q.keys.groupMembers(t))
				rs[i].count7 = p.ZCount(ctx, q.keys.groupLast(t), since7, "+inf")
				rs[i].count30 = p.ZCount(ctx, q.keys.groupLast(t), since30, "+inf")
				continue
			}
			rs[i].members = p.SMembers(ctx, q.keys.groupMembers(t))
			rs[i].active7 = p.ZRangeByScore(ctx, q.keys.groupLast(t), &redis.ZRangeBy{Min: since7, Max: "+inf"})
			rs[i].active = p.ZRangeByScore(ctx, q.keys.groupLast(t), &redis.ZRangeBy{Min: since30, Max: "+inf"})
		}
		return nil
	})
	if err != nil {
		return GroupStats{}, false, fmt.Errorf("query group: %w", err)
	}
	h := rs[0].hash.Val()
	if len(h) == 0 {
		return GroupStats{}, false, nil
	}
	g := GroupStats{Token: group, Title: h["title"], Chat: h["chat"], Platform: events.Platform(h["platform"]), MessagesPerDay: make([]int, statsDays)}
	if r := rs[0]; r.count != nil {
		for i, v := range r.days.Val() {
			g.MessagesPerDay[i] += int(asInt(v))
		}
		g.MembersSeen, g.Active7, g.Active30 = int(r.count.Val()), int(r.count7.Val()), int(r.count30.Val())
		return g, true, nil
	}
	members, active7, active30 := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, r := range rs {
		for _, m := range r.members.Val() {
			members[m] = true
		}
		for _, m := range r.active7.Val() {
			active7[m] = true
		}
		for _, m := range r.active.Val() {
			active30[m] = true
		}
		for i, v := range r.days.Val() {
			g.MessagesPerDay[i] += int(asInt(v))
		}
	}
	g.MembersSeen, g.Active7, g.Active30 = len(members), len(active7), len(active30)
	return g, true, nil
}

// TopActive returns the n members with the most messages in the window, most first.
func (q *Query) TopActive(ctx context.Context, n int) ([]MemberCard, error) {
	return q.ranked(ctx, q.keys.rankMsgs(), n, func(c MemberCard) int { return c.Messages })
}

// Leaders returns the n members the most distinct people replied to or mentioned in the
// window, most first.
func (q *Query) Leaders(ctx context.Context, n int) ([]MemberCard, error) {
	return q.ranked(ctx, q.keys.rankPeople(), n, func(c MemberCard) int { return c.People })
}

// ranked reads candidates from a ranking, then orders them by their figure as of now: a
// ranking entry is as old as the member's last evaluation (at most a sweep period).
func (q *Query) ranked(ctx context.Context, key string, n int, by func(MemberCard) int) ([]MemberCard, error) {
	if n <= 0 {
		return nil, nil
	}
	tokens, err := q.rdb.ZRevRange(ctx, key, 0, int64(4*n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("query ranking: %w", err)
	}
	cards, err := q.cards(ctx, tokens)
	if err != nil {
		return nil, err
	}
	cards = slices.DeleteFunc(cards, func(c MemberCard) bool { return by(c) == 0 })
	slices.SortFunc(cards, func(a, b MemberCard) int { return cmp.Or(by(b)-by(a), strings.Compare(a.Token, b.Token)) })
	return cards[:min(n, len(cards))], nil
}

// Member returns one member's card by token.
func (q *Query) Member(ctx context.Context, member string) (MemberCard, bool, error) {
	cards, err := q.cards(ctx, []string{member})
	if err != nil || len(cards) == 0 {
		return MemberCard{}, false, err
	}
	return cards[0], true, nil
}

// maxFound bounds what FindMembers returns.
const maxFound = 50

// FindMembers returns members whose name or username contains s, ignoring case, accents
// and a leading '@', and whom keep keeps (nil: all); at most 50, by name.
func (q *Query) FindMembers(ctx context.Context, s string, keep func(MemberCard) bool) ([]MemberCard, error) {
	want := fold(strings.TrimPrefix(strings.TrimSpace(s), "@"))
	if want == "" {
		return nil, nil
	}
	var tokens []string
	seen := map[string]bool{} // HSCAN may return a field twice
	var cursor uint64
	for {
		kv, next, err := q.rdb.HScan(ctx, q.keys.names(), cursor, "*", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("query find members: %w", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if !seen[kv[i]] && strings.Contains(kv[i+1], want) {
				seen[kv[i]] = true
				tokens = append(tokens, kv[i])
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	cards, err := q.cards(ctx, tokens)
	if err != nil {
		return nil, err
	}
	if keep != nil {
		// Before the bound: an organiser's scope may hold few of the party-wide matches.
		cards = slices.DeleteFunc(cards, func(c MemberCard) bool { return !keep(c) })
	}
	slices.SortFunc(cards, func(a, b MemberCard) int {
		return cmp.Or(strings.Compare(fold(a.Name), fold(b.Name)), strings.Compare(a.Token, b.Token))
	})
	return cards[:min(maxFound, len(cards))], nil
}

// cards reads members' cards, skipping unknown ones, in the order given.
func (q *Query) cards(ctx context.Context, tokens []string) ([]MemberCard, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	type reads struct{ h, d, i, g *redis.MapStringStringCmd }
	rs := make([]reads, len(tokens))
	_, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n, t := range tokens {
			k := q.keys.memberKeys(t)
			rs[n] = reads{h: p.HGetAll(ctx, k[0]), d: p.HGetAll(ctx, k[1]), i: p.HGetAll(ctx, k[2]), g: p.HGetAll(ctx, k[3])}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query members: %w", err)
	}
	today := dayOf(q.cfg.Now())
	window := max(1, days(q.cfg.Window))
	g := newGate(q.consent)
	var out []MemberCard
	for n, t := range tokens {
		h := rs[n].h.Val()
		if len(h) == 0 {
			continue
		}
		if d, err := g.decide(ctx, t, ""); err != nil {
			return nil, err
		} else if !mayShow(d) {
			continue // state not yet deleted after an objection: never shown meanwhile
		}
		ref := max(int(asInt(h["cur"])), today)
		in := func(d int) bool { return d > ref-window && d <= ref }
		before := func(d int) bool { return d > ref-7-window && d <= ref-7 }
		c := MemberCard{
			Token: t, Name: h["name"], Username: h["username"], Phone: h["phone"],
			Platform:  events.Platform(h["platform"]),
			FirstSeen: msTime(h["first_seen"]), LastSeen: msTime(h["last_seen"]),
		}
		a := dayFigures(rs[n].d.Val(), ref, window)
		c.Messages, c.ActiveDays, c.Before.Messages, c.Before.ActiveDays = a.Messages, a.ActiveDays, a.BeforeMessages, a.BeforeActiveDays
		people, peopleBefore := map[string]bool{}, map[string]bool{}
		eachInteraction(rs[n].i.Val(), func(_ string, d int, ok bool, ps map[string]int64) {
			for person, k := range ps {
				if ok && in(d) {
					people[person] = true
					c.RepliesReceived += int(k)
				}
				if ok && before(d) {
					peopleBefore[person] = true
				}
			}
		})
		c.People, c.Before.People = len(people), len(peopleBefore)
		var groups []groupRef
		for tok, v := range rs[n].g.Val() {
			_, title, _ := strings.Cut(v, "\x00")
			groups = append(groups, groupRef{Token: tok, Title: title})
		}
		slices.SortFunc(groups, func(a, b groupRef) int { return strings.Compare(a.Token, b.Token) })
		c.Groups = titles(groups)
		c.InGroups = groups
		c.Tags = tags(q.cfg.TagPrefix, tagBits(asInt(h["tags"])), groups)
		out = append(out, c)
	}
	return out, nil
}

// Cards returns the cards of members by token, through the consent gate: objectors and
// erased members are never returned.
func (q *Query) Cards(ctx context.Context, tokens []string) ([]MemberCard, error) {
	return q.cards(ctx, tokens)
}

// GroupMembers returns the tokens of everyone seen in a group (and the groups it migrated
// from). Not gated: pass them to Cards.
func (q *Query) GroupMembers(ctx context.Context, group string) ([]string, error) {
	tokens, err := q.groupTokens(ctx, group)
	if err != nil {
		return nil, err
	}
	out, err := q.membersOf(ctx, tokens)
	if err != nil {
		return nil, fmt.Errorf("query group members: %w", err)
	}
	return out, nil
}

// membersOf is the sorted union of the members seen in the groups (tokens).
func (q *Query) membersOf(ctx context.Context, groups []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, g := range groups {
		ms, err := q.rdb.SMembers(ctx, q.keys.groupMembers(g)).Result()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// groupTokens are a group's token and those of the groups that migrated to it.
func (q *Query) groupTokens(ctx context.Context, group string) ([]string, error) {
	alias, err := q.rdb.HGetAll(ctx, q.keys.groupAlias()).Result()
	if err != nil {
		return nil, fmt.Errorf("query group: %w", err)
	}
	return aliasesOf(group, alias), nil
}

// GroupDays returns a group's messages per day over the last n days, oldest first, today
// last (UTC days of event time).
func (q *Query) GroupDays(ctx context.Context, group string, n int) ([]int, error) {
	n = max(1, min(n, 400))
	tokens, err := q.groupTokens(ctx, group)
	if err != nil {
		return nil, err
	}
	today := dayOf(q.cfg.Now())
	fields := make([]string, n)
	for i := range fields {
		fields[i] = strconv.Itoa(today - n + 1 + i)
	}
	out := make([]int, n)
	for _, t := range tokens {
		vals, err := q.rdb.HMGet(ctx, q.keys.groupDays(t), fields...).Result()
		if err != nil {
			return nil, fmt.Errorf("query group days: %w", err)
		}
		for i, v := range vals {
			out[i] += int(asInt(v))
		}
	}
	return out, nil
}

// HoursOfWeek is messages per local weekday × hour: [0] is Monday 00h, [167] Sunday 23h.
type HoursOfWeek [7 * 24]int

// GroupHours returns a group's messages per weekday × hour over its last days (in the
// bridge's zone, Config.Zone). Messages applied before relais counted hours are not in it.
func (q *Query) GroupHours(ctx context.Context, group string, days int) (HoursOfWeek, error) {
	var out HoursOfWeek
	tokens, err := q.groupTokens(ctx, group)
	if err != nil {
		return out, err
	}
	today := dayOf(q.cfg.Now())
	for _, t := range tokens {
		h, err := q.rdb.HGetAll(ctx, q.keys.groupHours(t)).Result()
		if err != nil {
			return out, fmt.Errorf("query group hours: %w", err)
		}
		for f, v := range h {
			ds, hs, ok := strings.Cut(f, "|")
			d, err1 := strconv.Atoi(ds)
			how, err2 := strconv.Atoi(hs)
			if !ok || err1 != nil || err2 != nil || how < 0 || how >= len(out) || d <= today-days || d > today {
				continue
			}
			out[how] += int(asInt(v))
		}
	}
	return out, nil
}

// Bars are the deployment's active and leader bars, for rules evaluated outside the
// bridge (the digest's "who rose, who faded").
type Bars struct{ ActiveMinMessages, ActiveMinDays, LeaderMinPeople, WindowDays int }

// Bars returns the bars this query's bridge tags with.
func (q *Query) Bars() Bars {
	return Bars{q.cfg.ActiveMinMessages, q.cfg.ActiveMinDays, q.cfg.LeaderMinPeople, max(1, days(q.cfg.Window))}
}

// GroupWeeklyActive returns, for the last weeks (oldest first; the last is the seven days
// ending today), how many of the people seen in the group posted a message that week.
// Counts are a member's, whatever group they posted in: day buckets are kept per member.
func (q *Query) GroupWeeklyActive(ctx context.Context, group string, weeks int) ([]int, error) {
	weeks = max(1, min(weeks, 52))
	members, err := q.GroupMembers(ctx, group)
	if err != nil {
		return nil, err
	}
	cmds := make([]*redis.StringSliceCmd, len(members))
	_, err = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			cmds[i] = p.HKeys(ctx, q.keys.memberKeys(m)[1])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query weekly active: %w", err)
	}
	today := dayOf(q.cfg.Now())
	out := make([]int, weeks)
	for _, c := range cmds {
		seen := make([]bool, weeks)
		for _, f := range c.Val() {
			d, err := strconv.Atoi(f)
			if err != nil || d > today {
				continue
			}
			if w := (today - d) / 7; w < weeks && !seen[w] {
				seen[w] = true
				out[weeks-1-w]++
			}
		}
	}
	return out, nil
}
