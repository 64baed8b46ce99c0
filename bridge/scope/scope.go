// Package scope decides which groups an organiser may see. Administrators (RELAIS_ADMINS) see
// every group; an organiser sees only the groups the platform says they are a member of
// (Telegram getChatMember, WhatsApp participants), asked by relais and cached briefly, never
// configured by hand. Every organiser command, the digest and the dashboard filter through
// a Scope, so an organiser of group A learns nothing of group B by any of them.
package scope

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// Scope is a set of group tokens, or every group. The zero Scope holds nothing.
type Scope struct {
	all    bool
	groups map[string]bool
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

// DefaultTTL is how long a membership answer is kept: someone removed from a group loses
// its data within that time.
const DefaultTTL = 5 * time.Minute

// maxCached bounds the cache.
const maxCached = 50_000

// Resolver computes scopes, asking a Checker and caching its answers.
type Resolver struct {
	checker Checker
	ttl     time.Duration
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
	until  time.Time
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
	return &Resolver{checker: checker, ttl: ttl, now: now, log: log, cache: map[cacheKey]cached{}}
}

// Scope returns who's scope among groups. A platform that cannot answer for a group leaves
// that group out (fail closed); it is asked again on the next call.
func (r *Resolver) Scope(ctx context.Context, who Who, groups []bridge.GroupStats) Scope {
	if who.Admin {
		return Everything()
	}
	member := map[string]bool{}
	if r == nil || r.checker == nil || who.ID == "" {
		return Rule(who, groups, member)
	}
	// Groups are asked about a few at a time. Once the platform fails, the rest are read
	// from the cache only: asking a platform that is down about every group would only make
	// the organiser wait.
	var (
		mu     sync.Mutex
		failed atomic.Bool
		wg     sync.WaitGroup
		slots  = make(chan struct{}, askParallel)
	)
	for _, g := range groups {
		if g.Platform != who.Platform || g.Chat == "" {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			ok, err := r.isMember(ctx, who.Platform, g.Chat, who.ID, failed.Load())
			if err != nil {
				if !failed.Swap(true) {
					r.log.Warn("membership not known: groups left out of the scope", "group", g.Token, "err", err.Error())
				}
				return
			}
			mu.Lock()
			member[g.Token] = ok
			mu.Unlock()
		})
	}
	wg.Wait()
	return Rule(who, groups, member)
}

// errNotAsked is a membership not in the cache, not asked because the platform failed.
var errNotAsked = errors.New("scope: platform failed earlier in this scope")

func (r *Resolver) isMember(ctx context.Context, p events.Platform, group, user string, cachedOnly bool) (bool, error) {
	k := cacheKey{p, group, user}
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[k]
	r.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.member, nil
	}
	if cachedOnly {
		return false, errNotAsked
	}
	member, err := r.checker.IsMember(ctx, p, group, user)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxCached {
		for key, v := range r.cache {
			if !now.Before(v.until) {
				delete(r.cache, key)
			}
		}
		if len(r.cache) >= maxCached {
			clear(r.cache)
		}
	}
	r.cache[k] = cached{member: member, until: now.Add(r.ttl)}
	return member, nil
}
