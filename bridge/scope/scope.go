// Package scope decides which groups an organiser may see. Administrators (RELAIS_ADMINS) see
// every group; an organiser sees only the groups the platform says they are a member of
// (Telegram getChatMember, WhatsApp participants), asked by relais and cached briefly, never
// configured by hand. Every organiser command, the digest and the dashboard filter through
// a Scope, so an organiser of group A learns nothing of group B by any of them.
package scope

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
)

// Checker asks a platform whether user is a member of group (platform ids).
type Checker interface {
	IsMember(ctx context.Context, p events.Platform, group, user string) (bool, error)
}

// Who is an organiser as the platform knows them.
type Who struct {
	Platform events.Platform
	// ID is their platform user id: a Telegram user id, a WhatsApp JID or +phone.
	ID string
	// Phone is their phone in E.164 when the platform gave it (WhatsApp): how the allowlist
	// knows someone whose id is a LID.
	Phone string
	// Admin is RELAIS_ADMINS: every group.
	Admin bool
}

// Scope is a set of group tokens, or every group. The zero Scope holds nothing. A scope
// also knows the groups the platform could not answer about: they are left out (fail
// closed), and whoever shows the scope says so instead of presenting it as complete.
type Scope struct {
	all       bool
	groups    map[string]bool
	unchecked []bridge.GroupRef
	// named are the unchecked groups the organiser was a member of when last asked: the
	// only ones whose titles they may read. Any other group's title is not theirs to learn.
	named map[string]bool
}

// Everything is an administrator's scope.
func Everything() Scope { return Scope{all: true} }

// Only is the scope of exactly these groups.
func Only(tokens ...string) Scope {
	s := Scope{groups: map[string]bool{}}
	for _, t := range tokens {
		s.groups[t] = true
	}
	return s
}

// Unchecked returns s with these groups marked as not checked (the platform did not say
// whether the organiser is a member), sorted by title.
func (s Scope) Unchecked(gs ...bridge.GroupRef) Scope {
	s.unchecked = slices.Clone(s.unchecked)
	for _, g := range gs {
		if !slices.ContainsFunc(s.unchecked, func(u bridge.GroupRef) bool { return u.Token == g.Token }) {
			s.unchecked = append(s.unchecked, g)
		}
	}
	slices.SortFunc(s.unchecked, func(a, b bridge.GroupRef) int {
		return cmp.Or(strings.Compare(a.Title, b.Title), strings.Compare(a.Token, b.Token))
	})
	return s
}

// Complete reports whether every group was checked: nothing of the organiser's may be missing.
func (s Scope) Complete() bool { return len(s.unchecked) == 0 }

// Missing returns the groups that could not be checked, by title.
func (s Scope) Missing() []bridge.GroupRef { return slices.Clone(s.unchecked) }

// Named returns s with these unchecked groups' titles open to the organiser: they were a
// member of them when last asked.
func (s Scope) Named(tokens ...string) Scope {
	s.named = maps.Clone(s.named)
	if s.named == nil {
		s.named = map[string]bool{}
	}
	for _, t := range tokens {
		s.named[t] = true
	}
	return s
}

// MissingNames says which groups could not be checked, as the organiser may read it: the
// titles of those they were last known to be a member of, then others(n) for the count of
// the rest, whose titles are not theirs to learn.
func (s Scope) MissingNames(others func(n int) string) []string {
	var out []string
	rest := 0
	for _, g := range s.unchecked {
		if !s.named[g.Token] {
			rest++
			continue
		}
		out = append(out, cmp.Or(g.Title, "?"))
	}
	if rest > 0 {
		out = append(out, others(rest))
	}
	return out
}

// MayName reports whether the organiser may learn that this unchecked group exists (they
// were a member of it when last asked).
func (s Scope) MayName(token string) bool { return s.named[token] }

// Misses reports whether a group could not be checked.
func (s Scope) Misses(token string) bool {
	return slices.ContainsFunc(s.unchecked, func(g bridge.GroupRef) bool { return g.Token == token })
}

// All reports whether the scope is every group.
func (s Scope) All() bool { return s.all }

// Has reports whether a group is in the scope.
func (s Scope) Has(group string) bool { return s.all || s.groups[group] }

// Empty reports whether the scope holds no group.
func (s Scope) Empty() bool { return !s.all && len(s.groups) == 0 }

// Groups keeps the groups in the scope.
func (s Scope) Groups(gs []bridge.GroupStats) []bridge.GroupStats {
	if s.all {
		return gs
	}
	return slices.DeleteFunc(slices.Clone(gs), func(g bridge.GroupStats) bool { return !s.groups[g.Token] })
}

// Card returns a member's card as the scope may see it: only if they were seen in one of its
// groups, and with the groups outside it removed from the card (titles and group tags).
func (s Scope) Card(c bridge.MemberCard) (bridge.MemberCard, bool) {
	if s.all {
		return c, true
	}
	var keep []bridge.GroupRef
	hidden := map[string]bool{} // tag suffixes of the groups outside
	for _, g := range c.InGroups {
		if s.groups[g.Token] {
			keep = append(keep, g)
		} else {
			hidden[bridge.GroupTagSuffix(g)] = true
		}
	}
	if len(keep) == 0 {
		return bridge.MemberCard{}, false
	}
	var titles []string
	for _, g := range keep {
		titles = append(titles, g.Title)
		delete(hidden, bridge.GroupTagSuffix(g))
	}
	slices.Sort(titles)
	c.InGroups, c.Groups = keep, slices.Compact(titles)
	c.Tags = slices.DeleteFunc(slices.Clone(c.Tags), func(tag string) bool {
		for suffix := range hidden {
			if strings.HasSuffix(tag, suffix) {
				return true
			}
		}
		return false
	})
	return c, true
}

// Cards keeps the cards the scope may see, trimmed as Card does.
func (s Scope) Cards(cs []bridge.MemberCard) []bridge.MemberCard {
	var out []bridge.MemberCard
	for _, c := range cs {
		if c, ok := s.Card(c); ok {
			out = append(out, c)
		}
	}
	return out
}

// Rule is the scope rule, pure: an administrator sees everything; an organiser sees the
// groups of their own platform the platform says they are a member of (member, by group
// token). A group whose platform id is unknown is in no organiser's scope.
func Rule(who Who, groups []bridge.GroupStats, member map[string]bool) Scope {
	if who.Admin {
		return Everything()
	}
	s := Only()
	for _, g := range groups {
		if g.Platform == who.Platform && g.Chat != "" && member[g.Token] {
			s.groups[g.Token] = true
		}
	}
	return s
}

// askParallel bounds the membership questions one scope asks at once.
const askParallel = 4

// DefaultAskTimeout bounds one membership question: a platform that does not answer in time
// leaves that group unchecked, and the organiser waits for it no longer.
const DefaultAskTimeout = 6 * time.Second

// DefaultTTL is how long a membership answer is kept: someone removed from a group loses
// its data within that time.
const DefaultTTL = 5 * time.Minute

// scopeDeadline bounds one scope's questions in all: groups not asked by then are left
// unchecked. An organiser waits no longer, and the weekly digest's lease outlives a build.
const scopeDeadline = 15 * time.Second

// lastKnownFor is how long an answer is remembered past its TTL, for one use only: naming a
// group that could not be checked to someone who was a member of it.
const lastKnownFor = 30 * 24 * time.Hour

// maxCached bounds the cache.
const maxCached = 50_000

// Resolver computes scopes, asking a Checker and caching its answers.
type Resolver struct {
	checker Checker
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu    sync.Mutex
	cache map[cacheKey]cached
}

type cacheKey struct {
	platform    events.Platform
	group, user string
}

type cached struct {
	member bool
	until  time.Time // the answer holds until then
	known  time.Time // and is remembered until then (lastKnownFor)
}

// NewResolver returns a resolver over checker (nil: no organiser is a member of anything,
// so only administrators see groups). ttl <= 0 is DefaultTTL; now nil is time.Now.
func NewResolver(checker Checker, ttl time.Duration, now func() time.Time, log *slog.Logger) *Resolver {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{checker: checker, ttl: ttl, timeout: DefaultAskTimeout, now: now, log: log, cache: map[cacheKey]cached{}}
}

// WithAskTimeout sets how long one membership question may take (d <= 0: the default).
func (r *Resolver) WithAskTimeout(d time.Duration) *Resolver {
	if d <= 0 {
		d = DefaultAskTimeout
	}
	r.timeout = d
	return r
}

// Scope returns who's scope among groups. Every group of who's platform is asked about (a
// few at a time, each within the ask timeout): the platform saying the bot is not in a group
// (events.ErrNotInGroup) means not a member; any other failure leaves that group out of the
// scope and marks it unchecked, to be asked again on the next call.
func (r *Resolver) Scope(ctx context.Context, who Who, groups []bridge.GroupStats) Scope {
	if who.Admin {
		return Everything()
	}
	member := map[string]bool{}
	if r == nil || r.checker == nil || who.ID == "" {
		return Rule(who, groups, member)
	}
	ctx, cancel := context.WithTimeout(ctx, scopeDeadline)
	defer cancel()
	var (
		mu        sync.Mutex
		unchecked []bridge.GroupRef
		named     []string
		firstErr  error
		wg        sync.WaitGroup
		slots     = make(chan struct{}, askParallel)
	)
	for _, g := range groups {
		if g.Platform != who.Platform || g.Chat == "" {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			ok, err := r.isMember(ctx, who.Platform, g.Chat, who.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unchecked = append(unchecked, bridge.GroupRef{Token: g.Token, Title: g.Title})
				if r.wasMember(who.Platform, g.Chat, who.ID) {
					named = append(named, g.Token)
				}
				firstErr = cmp.Or(firstErr, err)
				return
			}
			member[g.Token] = ok
		})
	}
	wg.Wait()
	if len(unchecked) > 0 {
		r.log.Warn("membership not known: scope incomplete", "unchecked", len(unchecked), "err", firstErr.Error())
	}
	return Rule(who, groups, member).Unchecked(unchecked...).Named(named...)
}

// wasMember: the last answer about user in group, kept past its TTL, was yes.
func (r *Resolver) wasMember(p events.Platform, group, user string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cache[cacheKey{p, group, user}]
	return ok && c.member && r.now().Before(c.known)
}

func (r *Resolver) isMember(ctx context.Context, p events.Platform, group, user string) (bool, error) {
	k := cacheKey{p, group, user}
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[k]
	r.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.member, nil
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("scope: membership not asked: %w", err) // past the scope's deadline
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	member, err := r.checker.IsMember(ctx, p, group, user)
	switch {
	case errors.Is(err, events.ErrNotInGroup):
		member = false // the platform's answer: cached like any other
	case err != nil:
		return false, fmt.Errorf("scope: membership: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxCached {
		for key, v := range r.cache {
			if !now.Before(v.known) {
				delete(r.cache, key)
			}
		}
		if len(r.cache) >= maxCached {
			clear(r.cache)
		}
	}
	r.cache[k] = cached{member: member, until: now.Add(r.ttl), known: now.Add(max(r.ttl, lastKnownFor))}
	return member, nil
}
