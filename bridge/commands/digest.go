package commands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/journal"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/scope"
)

// MemberSource is what the digest and the dashboard read beyond Query: everyone seen in a
// group, their cards through the consent gate, and the tag bars. *bridge.Query has it.
type MemberSource interface {
	GroupMembers(ctx context.Context, group string) ([]string, error)
	Cards(ctx context.Context, tokens []string) ([]MemberCard, error)
	Bars() bridge.Bars
}

// DigestSection adds a section to the digest for a scope, in a language ("" when it has
// nothing to say). Campaign results plug in here.
type DigestSection interface {
	DigestSection(ctx context.Context, sc scope.Scope, lang string) (string, error)
}

// Digest is a week's summary for one scope.
type Digest struct {
	// Week is the ISO week, like 2026-W11.
	Week   string
	Groups []DigestGroup
	// NewActive met the active bar this week and not a week ago; NewLeaders likewise for
	// the leader bar; Inactive met the active bar a week ago and no longer does.
	NewActive, NewLeaders, Inactive []MemberCard
	// Sync is the CRM sync state; nil when this process does not report it.
	Sync   *SyncInfo
	Extras []string
	// Missing are the titles of the groups the scope could not check: the digest says so.
	Missing []string
}

// DigestGroup is one group's week against the week before.
type DigestGroup struct {
	GroupStats
	ThisWeek, LastWeek int
	// Trend is 1 growing, -1 fading, 0 steady.
	Trend int
}

// Trend says whether a group grew or faded from one week to the next: by a quarter and by
// at least five messages, so a quiet group's 1 → 2 is not news.
func Trend(this, last int) int {
	switch {
	case this-last >= 5 && this*4 >= last*5:
		return 1
	case last-this >= 5 && this*4 <= last*3:
		return -1
	}
	return 0
}

// metActive and metLeader are the bars without hysteresis: the digest compares two dates,
// and a raw bar says plainly who crossed it.
func metActive(b bridge.Bars, msgs, days int) bool {
	return msgs >= b.ActiveMinMessages && days >= b.ActiveMinDays
}

func metLeader(b bridge.Bars, people int) bool { return people >= b.LeaderMinPeople }

// BuildDigest gathers the week ending now for a scope.
func (h *Handler) BuildDigest(ctx context.Context, sc scope.Scope, now time.Time) (Digest, error) {
	d := Digest{Week: ISOWeek(now), Missing: h.missingNames(sc)}
	groups, err := h.query.Groups(ctx)
	if err != nil {
		return d, fmt.Errorf("digest: %w", err)
	}
	groups = sc.Groups(groups)
	for _, g := range groups {
		dg := DigestGroup{GroupStats: g}
		n := len(g.MessagesPerDay)
		for i, v := range g.MessagesPerDay {
			switch {
			case i >= n-7:
				dg.ThisWeek += v
			case i >= n-14:
				dg.LastWeek += v
			}
		}
		dg.Trend = Trend(dg.ThisWeek, dg.LastWeek)
		d.Groups = append(d.Groups, dg)
	}
	slices.SortStableFunc(d.Groups, func(a, b DigestGroup) int { return b.ThisWeek - a.ThisWeek })
	if ms, ok := h.query.(MemberSource); ok {
		cards, err := h.digestMembers(ctx, ms, sc, groups)
		if err != nil {
			return d, err
		}
		bars := ms.Bars()
		for _, c := range cards {
			now, before := metActive(bars, c.Messages, c.ActiveDays), metActive(bars, c.Before.Messages, c.Before.ActiveDays)
			switch {
			case now && !before:
				d.NewActive = append(d.NewActive, c)
			case before && !now:
				d.Inactive = append(d.Inactive, c)
			}
			if metLeader(bars, c.People) && !metLeader(bars, c.Before.People) {
				d.NewLeaders = append(d.NewLeaders, c)
			}
		}
		for _, list := range [][]MemberCard{d.NewActive, d.Inactive, d.NewLeaders} {
			for _, c := range list {
				journal.Note(ctx, c.Token)
			}
		}
	}
	if h.sync != nil {
		info, err := h.sync.SyncInfo(ctx)
		if err != nil {
			return d, fmt.Errorf("digest: sync: %w", err)
		}
		d.Sync = &info
	}
	if text, err := h.camp.Digest(ctx, sc, now); err != nil {
		return d, fmt.Errorf("digest: campaigns: %w", err)
	} else if text != "" {
		d.Extras = append(d.Extras, text)
	}
	for _, s := range h.cfg.DigestSections {
		text, err := s.DigestSection(ctx, sc, h.cat.Lang)
		if err != nil {
			return d, fmt.Errorf("digest: section: %w", err)
		}
		if strings.TrimSpace(text) != "" {
			d.Extras = append(d.Extras, text)
		}
	}
	return d, nil
}

// ScopedMembers returns the cards of everyone seen in the scope's groups, through the
// consent gate and trimmed to the scope, by name.
func (h *Handler) ScopedMembers(ctx context.Context, sc scope.Scope) ([]MemberCard, error) {
	ms, ok := h.query.(MemberSource)
	if !ok {
		return nil, nil
	}
	groups, err := h.query.Groups(ctx)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	return h.scopedMembers(ctx, ms, sc, sc.Groups(groups))
}

func (h *Handler) scopedMembers(ctx context.Context, ms MemberSource, sc scope.Scope, groups []GroupStats) ([]MemberCard, error) {
	seen := map[string]bool{}
	var tokens []string
	for _, g := range groups {
		ts, err := ms.GroupMembers(ctx, g.Token)
		if err != nil {
			return nil, fmt.Errorf("members: %w", err)
		}
		for _, t := range ts {
			if !seen[t] {
				seen[t] = true
				tokens = append(tokens, t)
			}
		}
	}
	cards, err := ms.Cards(ctx, tokens)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	cards = sc.Cards(cards)
	slices.SortFunc(cards, func(a, b MemberCard) int {
		return cmp.Or(strings.Compare(strings.ToLower(displayName(a)), strings.ToLower(displayName(b))), strings.Compare(a.Token, b.Token))
	})
	return cards, nil
}

// maxDigestNames bounds each list of names in the digest.
const maxDigestNames = 10

// DigestText writes a digest in the handler's language.
func (h *Handler) DigestText(d Digest) string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf(h.org.DigestTitle, d.Week))
	if len(d.Missing) > 0 {
		b.WriteString("\n\n" + h.missingNote(d.Missing))
	}
	if len(d.Groups) > 0 {
		b.WriteString("\n\n" + h.org.DigestGroupsTitle)
		for i, g := range d.Groups {
			if i == maxGroupsListed {
				b.WriteString("\n" + fmt.Sprintf(h.org.DigestMore, len(d.Groups)-i))
				break
			}
			trend := h.org.DigestSteady
			switch g.Trend {
			case 1:
				trend = h.org.DigestGrowing
			case -1:
				trend = h.org.DigestFading
			}
			b.WriteString("\n" + fmt.Sprintf(h.org.DigestGroupLine, g.Title, g.ThisWeek, g.LastWeek, trend))
		}
	}
	names := func(title string, cs []MemberCard) {
		b.WriteString("\n\n" + fmt.Sprintf(title, len(cs)))
		if len(cs) == 0 {
			b.WriteString("\n" + h.org.DigestNobody)
		}
		for i, c := range cs {
			if i == maxDigestNames {
				b.WriteString("\n" + fmt.Sprintf(h.org.DigestMore, len(cs)-i))
				break
			}
			b.WriteString("\n  • " + displayName(c))
		}
	}
	names(h.org.DigestNewActive, d.NewActive)
	names(h.org.DigestNewLeaders, d.NewLeaders)
	names(h.org.DigestInactive, d.Inactive)
	b.WriteString("\n\n")
	if d.Sync == nil {
		b.WriteString(h.org.DigestSyncNone)
	} else {
		b.WriteString(fmt.Sprintf(h.org.DigestSync, d.Sync.Pending, h.cat.dateTime(d.Sync.LastSuccessAt)))
		if d.Sync.LastError != "" {
			b.WriteString("\n" + fmt.Sprintf(h.org.DigestSyncError, h.cat.dateTime(d.Sync.LastErrorAt), d.Sync.LastError))
		}
	}
	for _, e := range d.Extras {
		b.WriteString("\n\n" + e)
	}
	return clip(b.String())
}

// digestCommands declares /bilan: the digest of the organiser's scope, now. A digest says
// what it misses itself.
func (h *Handler) digestCommands() []command.Spec {
	return []command.Spec{{Key: "bilan", Names: []string{"bilan", "digest"}, English: "digest",
		Who: command.Organisers, Rate: command.Limited, Arg: events.ArgNone, Listed: true, Background: true,
		Run: h.inScope(func(ctx context.Context, ev events.Event, sc scope.Scope) error {
			d, err := h.BuildDigest(ctx, sc, h.cfg.Now())
			if err != nil {
				return err
			}
			return h.sendPrivately(ctx, ev, h.private(ev, "answer", clip(h.DigestText(d))))
		})}}
}
