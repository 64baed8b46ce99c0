package commands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/journal"
)

// RankSource lets pages and digests read the cards of the members they may show rather than
// of everyone seen in the scope's groups (four hashes each): *bridge.Query has it. Without
// it, they read everyone.
type RankSource interface {
	MemberSource
	Ranked(ctx context.Context, r bridge.Ranking, below, skip, count int) ([]bridge.RankEntry, error)
	RankedAtLeast(ctx context.Context, r bridge.Ranking, least int) ([]string, error)
	PostedWithin(ctx context.Context, days int) ([]string, error)
	SeenIn(ctx context.Context, groups, members []string) ([]bool, error)
	Activities(ctx context.Context, members []string) ([]bridge.Activity, error)
}

// byName is the order of member lists: by displayed name, then token.
func byName(a, b MemberCard) int {
	return cmp.Or(strings.Compare(strings.ToLower(displayName(a)), strings.ToLower(displayName(b))), strings.Compare(a.Token, b.Token))
}

// Top returns the first n members of the scope that keep keeps, by their figure in the
// ranking, most first, equal figures by name: the dashboard's leaders and actives. keep must
// keep only members with a figure at their last evaluation (a tag of the ranking's kind):
// others are not in the ranking.
func (h *Handler) Top(ctx context.Context, sc scope.Scope, r bridge.Ranking, n int, keep func(MemberCard) bool) ([]MemberCard, error) {
	out, err := h.top(ctx, sc, r, n, keep)
	for _, c := range out {
		journal.Note(ctx, c.Token) // a dashboard page names them
	}
	return out, err
}

func (h *Handler) top(ctx context.Context, sc scope.Scope, r bridge.Ranking, n int, keep func(MemberCard) bool) ([]MemberCard, error) {
	if n <= 0 || sc.Empty() {
		return nil, nil
	}
	order := func(a, b MemberCard) int { return cmp.Or(r.Of(b)-r.Of(a), byName(a, b)) }
	rs, ok := h.query.(RankSource)
	seen := 0
	var groups []string
	if ok {
		var err error
		if groups, seen, err = h.scopeGroups(ctx, sc); err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			return nil, nil
		}
	}
	if !ok || seen <= smallScope {
		// Without rankings, or for a scope of few members, read them all: that costs less
		// than walking everyone's ranking.
		all, err := h.ScopedMembers(ctx, sc)
		if err != nil {
			return nil, err
		}
		all = slices.DeleteFunc(all, func(c MemberCard) bool { return !keep(c) })
		slices.SortFunc(all, order)
		return all[:min(n, len(all))], nil
	}
	var out []MemberCard
	read := map[string]bool{}
	below, skip := -1, 0 // from the top
	for page := 4 * n; ; page = min(2*page, 4096) {
		// One entry more than the page: the score a member not read yet can at most have.
		es, err := rs.Ranked(ctx, r, below, skip, page+1)
		if err != nil {
			return nil, fmt.Errorf("top members: %w", err)
		}
		more := len(es) > page
		if more {
			es = es[:page]
		}
		// The next page starts at the last score read, past the entries of that score read
		// already (a member that moved meanwhile is read twice at most: read drops it).
		if len(es) > 0 {
			last := es[len(es)-1].Score
			if last != below {
				skip = 0
			}
			for _, e := range es {
				if e.Score == last {
					skip++
				}
			}
			below = last
		}
		cards, err := h.seenCards(ctx, rs, sc, groups, tokensOf(es))
		if err != nil {
			return nil, err
		}
		for _, c := range cards {
			// A member whose score changed between two pages may be on both.
			if keep(c) && !read[c.Token] {
				read[c.Token] = true
				out = append(out, c)
			}
		}
		slices.SortFunc(out, order)
		if !more {
			break
		}
		// Equal figures go by name, so an unread member with the n-th figure may still come
		// first: reading stops only below it.
		if next := es[len(es)-1].Score; len(out) >= n && r.Of(out[n-1]) > next {
			break
		}
	}
	return out[:min(n, len(out))], nil
}

func tokensOf(es []bridge.RankEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Token
	}
	return out
}

// smallScope is how many members seen a scope's groups may hold for its pages to read them
// all rather than walk the ranking of everyone.
const smallScope = 1000

// scopeGroups are the tokens of the scope's groups, and how many members they have seen in
// all (a member of two groups counted twice).
func (h *Handler) scopeGroups(ctx context.Context, sc scope.Scope) ([]string, int, error) {
	gs, err := h.query.Groups(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("members: %w", err)
	}
	var out []string
	seen := 0
	for _, g := range sc.Groups(gs) {
		out = append(out, g.Token)
		seen += g.MembersSeen
	}
	return out, seen, nil
}

// seenCards returns the cards, as the scope may see them, of those of tokens seen in one of
// groups: what scopedMembers would hold of them.
func (h *Handler) seenCards(ctx context.Context, rs RankSource, sc scope.Scope, groups, tokens []string) ([]MemberCard, error) {
	in, err := rs.SeenIn(ctx, groups, tokens)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	var seen []string
	for i, t := range tokens {
		if in[i] {
			seen = append(seen, t)
		}
	}
	cards, err := rs.Cards(ctx, seen)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	return sc.Cards(cards), nil
}

// digestMembers returns, by name, the cards of the scope's members who may be in a digest's
// lists. Who crossed the active bar, up or down, met it now or in the window that ended a
// week ago, so posted within the window and a week: of those, only the ones whose day
// buckets say they crossed it are read whole. Who rose to the leader bar is over it now, so
// in its ranking at least at the bar. Everyone else, the bulk of the members seen, is not
// read at all.
func (h *Handler) digestMembers(ctx context.Context, ms MemberSource, sc scope.Scope, groups []GroupStats) ([]MemberCard, error) {
	rs, ok := ms.(RankSource)
	if !ok {
		return h.scopedMembers(ctx, ms, sc, groups)
	}
	bars := ms.Bars()
	posted, err := rs.PostedWithin(ctx, bars.WindowDays+7)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	actives, err := rs.RankedAtLeast(ctx, bridge.ByMessages, max(1, bars.ActiveMinMessages))
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	leaders, err := rs.RankedAtLeast(ctx, bridge.ByPeople, max(1, bars.LeaderMinPeople))
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	posted = unique(slices.Concat(posted, actives))
	acts, err := rs.Activities(ctx, posted)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	var crossed []string
	for i, a := range acts {
		if metActive(bars, a.Messages, a.ActiveDays) != metActive(bars, a.BeforeMessages, a.BeforeActiveDays) {
			crossed = append(crossed, posted[i])
		}
	}
	tokens := unique(slices.Concat(crossed, leaders))
	gs := make([]string, len(groups))
	for i, g := range groups {
		gs[i] = g.Token
	}
	cards, err := h.seenCards(ctx, rs, sc, gs, tokens)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cards, byName)
	return cards, nil
}

// unique keeps the first of each token, in order.
func unique(tokens []string) []string {
	seen := make(map[string]bool, len(tokens))
	return slices.DeleteFunc(tokens, func(t string) bool {
		if seen[t] {
			return true
		}
		seen[t] = true
		return false
	})
}
