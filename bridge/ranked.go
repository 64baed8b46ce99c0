package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Ranking is one of the rankings the bridge keeps (indexLua, storeState): every member whose
// window figure was above zero at their last evaluation, scored by that figure. A score bounds
// the member's figure as of now from above: with time alone a window figure can only fall,
// and an event re-evaluates its member. So walking a ranking down, a member not read yet can
// never come before one whose figure is above the next score: the reason pages and digests
// can read a few members' cards instead of everyone's.
type Ranking int

const (
	// ByMessages ranks by messages in the window: the actives.
	ByMessages Ranking = iota
	// ByPeople ranks by distinct people who replied to, mentioned or reacted to the member
	// in the window: the leaders.
	ByPeople
)

// Of is a card's figure in the ranking, as of the card's reading.
func (r Ranking) Of(c MemberCard) int {
	if r == ByPeople {
		return c.People
	}
	return c.Messages
}

func (q *Query) rankingKey(r Ranking) string {
	if r == ByPeople {
		return q.keys.rankPeople()
	}
	return q.keys.rankMsgs()
}

// RankEntry is a member's place in a ranking.
type RankEntry struct {
	Token string
	Score int
}

// Ranked returns count entries of a ranking, highest score first, from the skip+1-th entry
// scored at most below (below < 0: from the top). Paging by score rather than by position,
// a score that changes between two pages moves no unread entry past the walk.
func (q *Query) Ranked(ctx context.Context, r Ranking, below, skip, count int) ([]RankEntry, error) {
	if count <= 0 {
		return nil, nil
	}
	most := "+inf"
	if below >= 0 {
		most = strconv.Itoa(below)
	}
	zs, err := q.rdb.ZRevRangeByScoreWithScores(ctx, q.rankingKey(r), &redis.ZRangeBy{Min: "-inf", Max: most, Offset: int64(skip), Count: int64(count)}).Result()
	if err != nil {
		return nil, fmt.Errorf("query ranking: %w", err)
	}
	out := make([]RankEntry, len(zs))
	for i, z := range zs {
		tok, _ := z.Member.(string)
		out[i] = RankEntry{Token: tok, Score: int(z.Score)}
	}
	return out, nil
}

// RankedAtLeast returns the members whose score in the ranking is at least least: everyone
// whose figure may be there now.
func (q *Query) RankedAtLeast(ctx context.Context, r Ranking, least int) ([]string, error) {
	out, err := q.rdb.ZRangeByScore(ctx, q.rankingKey(r), &redis.ZRangeBy{Min: strconv.Itoa(least), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("query ranking: %w", err)
	}
	return out, nil
}

// PostedWithin returns the members who posted a message in any group in the last days days,
// today included (UTC days of event time), from the groups' last message days.
func (q *Query) PostedWithin(ctx context.Context, days int) ([]string, error) {
	groups, err := q.rdb.SMembers(ctx, q.keys.groups()).Result()
	if err != nil {
		return nil, fmt.Errorf("query posters: %w", err)
	}
	since := "(" + strconv.Itoa(dayOf(q.cfg.Now())-days)
	cmds := make([]*redis.StringSliceCmd, len(groups))
	if _, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			cmds[i] = p.ZRangeByScore(ctx, q.keys.groupLast(g), &redis.ZRangeBy{Min: since, Max: "+inf"})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("query posters: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range cmds {
		for _, m := range c.Val() {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// SeenIn says, for each member, whether they were seen in one of the groups or in a group
// that migrated to one of them: what GroupMembers would list, asked of a few members.
func (q *Query) SeenIn(ctx context.Context, groups, members []string) ([]bool, error) {
	out := make([]bool, len(members))
	if len(members) == 0 || len(groups) == 0 {
		return out, nil
	}
	alias, err := q.rdb.HGetAll(ctx, q.keys.groupAlias()).Result()
	if err != nil {
		return nil, fmt.Errorf("query seen in: %w", err)
	}
	var tokens []string
	for _, g := range groups {
		tokens = append(tokens, aliasesOf(g, alias)...)
	}
	cmds := make([]*redis.BoolSliceCmd, len(tokens))
	if _, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		args := make([]any, len(members))
		for i, m := range members {
			args[i] = m
		}
		for i, t := range tokens {
			cmds[i] = p.SMIsMember(ctx, q.keys.groupMembers(t), args...)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("query seen in: %w", err)
	}
	for _, c := range cmds {
		for i, in := range c.Val() {
			out[i] = out[i] || in
		}
	}
	return out, nil
}

// aliasesOf is a group's token, after the migrations alias names, and those that migrated to
// it: what groupTokens returns, from an alias map already read.
func aliasesOf(group string, alias map[string]string) []string {
	for range 8 {
		next, ok := alias[group]
		if !ok {
			break
		}
		group = next
	}
	out := []string{group}
	for old, cur := range alias {
		if cur == group {
			out = append(out, old)
		}
	}
	return out
}

// Activity is a member's messages and active days in the window and in the window that ended
// seven days before, as their card counts them (MemberCard.Before).
type Activity struct{ Messages, ActiveDays, BeforeMessages, BeforeActiveDays int }

// Activities returns members' Activity from their day buckets alone: two small reads each,
// where a card reads four hashes. Unknown members have none.
func (q *Query) Activities(ctx context.Context, members []string) ([]Activity, error) {
	type reads struct {
		cur  *redis.StringCmd
		days *redis.MapStringStringCmd
	}
	rs := make([]reads, len(members))
	// A member without a cur field answers redis.Nil: the pipeline's error is each command's.
	_, _ = q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			k := q.keys.memberKeys(m)
			rs[i] = reads{p.HGet(ctx, k[0], "cur"), p.HGetAll(ctx, k[1])}
		}
		return nil
	})
	today, window := dayOf(q.cfg.Now()), max(1, days(q.cfg.Window))
	out := make([]Activity, len(members))
	for i, r := range rs {
		if err := cmp.Or(r.days.Err(), r.cur.Err()); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("query activities: %w", err)
		}
		out[i] = dayFigures(r.days.Val(), max(int(asInt(r.cur.Val())), today), window)
	}
	return out, nil
}

// dayFigures counts a member's messages per day (memberKeys[1]) in the window ending on ref
// and in the one ending seven days before it.
func dayFigures(perDay map[string]string, ref, window int) Activity {
	var a Activity
	for f, v := range perDay {
		d, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if d > ref-window && d <= ref {
			a.Messages += int(asInt(v))
			a.ActiveDays++
		}
		if d > ref-7-window && d <= ref-7 {
			a.BeforeMessages += int(asInt(v))
			a.BeforeActiveDays++
		}
	}
	return a
}
