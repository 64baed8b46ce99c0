package commands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/journal"
)

// Bounds that keep an answer within one chat message (Telegram's limit is 4096 characters).
const (
	maxGroupsListed  = 25
	maxMatchesListed = 10
	maxAnswerRunes   = reply.MaxRunes
)

// queryCommands declares the organisers' questions: who is active, who leads, one member's
// card, the CRM sync. A search over every member may take a while: off the batch loop.
func (h *Handler) queryCommands() []command.Spec {
	return []command.Spec{
		{Key: "stats", Names: []string{"stats", "statistiques"}, Who: command.Organisers, Rate: command.Limited,
			Arg: events.ArgGroup, Listed: true, Background: true, Run: h.scoped(h.stats)},
		{Key: "actifs", Names: []string{"actifs", "active"}, English: "active", Who: command.Organisers, Rate: command.Limited,
			Arg: events.ArgCount, Listed: true, Background: true, Run: h.scoped(h.memberList(false))},
		{Key: "relais", Names: []string{"relais", "leaders"}, English: "leaders", Who: command.Organisers, Rate: command.Limited,
			Arg: events.ArgCount, Listed: true, Background: true, Run: h.scoped(h.memberList(true))},
		{Key: "fiche", Names: []string{"fiche", "card"}, English: "card", Who: command.Organisers, Rate: command.Limited,
			Arg: events.ArgMember, Listed: true, Background: true, Run: h.scoped(h.card)},
		// The CRM is no scope's.
		{Key: "sync", Names: []string{"sync"}, Who: command.Organisers, Rate: command.Limited,
			Arg: events.ArgNone, Listed: true, Background: true,
			Run: func(ctx context.Context, r command.Request) error {
				text, err := h.syncState(ctx)
				if err != nil {
					return err
				}
				return h.sendPrivately(ctx, r.Event, h.private(r.Event, "answer", clip(text)))
			}},
	}
}

// scopedAnswer answers an organiser from the groups of their scope; shown are the groups a
// chart should follow the answer with.
type scopedAnswer func(ctx context.Context, ev events.Event, sc scope.Scope) (text string, shown []GroupStats, err error)

// scoped answers an organiser privately from their scope (in a group, the group only learns
// that the answer went privately), saying which groups the answer could not count.
func (h *Handler) scoped(answer scopedAnswer) command.Func {
	return h.inScope(func(ctx context.Context, ev events.Event, sc scope.Scope) error {
		text, shown, err := answer(ctx, ev, sc)
		if err != nil {
			return err
		}
		if err := h.sendPrivately(ctx, ev, h.private(ev, "answer", h.withMissing(sc, text))); err != nil {
			return err
		}
		if len(shown) > 0 {
			return h.sendChart(ctx, ev, shown)
		}
		return nil
	})
}

// inScope runs answer with the organiser's scope; an organiser who sees no group is told so
// (and which groups the platform could not check), and answer is not run.
func (h *Handler) inScope(answer func(ctx context.Context, ev events.Event, sc scope.Scope) error) command.Func {
	return func(ctx context.Context, r command.Request) error {
		ev := r.Event
		sc, err := h.Scope(ctx, h.Who(ev.Platform, ev.Sender))
		if err != nil {
			return err
		}
		if sc.Empty() {
			return h.sendPrivately(ctx, ev, h.private(ev, "answer", cmp.Or(h.missingNote(h.missingNames(sc)), h.org.NoScope)))
		}
		return answer(ctx, ev, sc)
	}
}

// clip keeps an answer within one message.
func clip(s string) string { return reply.Clip(s) }

// clipTo keeps s within n runes.
func clipTo(s string, n int) string { return reply.ClipTo(s, n) }

// stats: with an argument, the groups whose title matches; without, in a group that group,
// in private every group.
func (h *Handler) stats(ctx context.Context, ev events.Event, sc scope.Scope) (string, []GroupStats, error) {
	if q := searchText(ev.Command.Args); q != "" {
		found, err := h.query.FindGroup(ctx, q)
		if err != nil {
			return "", nil, fmt.Errorf("find group: %w", err)
		}
		found = sc.Groups(found)
		switch len(found) {
		case 0:
			return fmt.Sprintf(h.cat.GroupNotFound, q), nil, nil
		case 1:
			return h.groupStats(found[0]), found, nil
		}
		var b strings.Builder
		b.WriteString(h.cat.ManyGroups)
		for i, g := range found {
			if i == maxMatchesListed {
				b.WriteString("\n" + h.cat.StatsMore.N(len(found)-i))
				break
			}
			b.WriteString("\n• " + g.Title)
		}
		return b.String(), nil, nil
	}
	if ev.Group != nil {
		g, found, err := h.query.Group(ctx, h.hash.Group(ev.Platform, ev.Group.ID))
		if err != nil {
			return "", nil, fmt.Errorf("group: %w", err)
		}
		if found && sc.Has(g.Token) {
			return h.groupStats(g), []GroupStats{g}, nil
		}
	}
	groups, err := h.query.Groups(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("groups: %w", err)
	}
	groups = sc.Groups(groups)
	if len(groups) == 0 {
		return h.cat.NoGroups, nil, nil
	}
	var b strings.Builder
	b.WriteString(h.cat.StatsAll)
	for i, g := range groups {
		if i == maxGroupsListed {
			b.WriteString("\n" + h.cat.StatsMore.N(len(groups)-i))
			break
		}
		b.WriteString("\n" + fmt.Sprintf(h.cat.StatsGroupLine, g.Title, h.cat.MemberCount.N(g.MembersSeen), h.cat.ActiveCount.N(g.Active30), Sparkline(g.MessagesPerDay)))
	}
	b.WriteString("\n\n" + h.cat.StatsUsageHint)
	return b.String(), groups, nil
}

func (h *Handler) groupStats(g GroupStats) string {
	total, peak := 0, 0
	for _, n := range g.MessagesPerDay {
		total += n
		peak = max(peak, n)
	}
	return "📊 " + g.Title + "\n" +
		fmt.Sprintf(h.cat.StatsMembers, g.MembersSeen, g.Active7, g.Active30) + "\n" +
		fmt.Sprintf(h.cat.StatsMessages, Sparkline(g.MessagesPerDay), total, peak)
}

// memberList answers /actifs (most messages) and /relais (most distinct people who replied
// to or mentioned them: why they are leaders).
func (h *Handler) memberList(leaders bool) scopedAnswer {
	return func(ctx context.Context, ev events.Event, sc scope.Scope) (string, []GroupStats, error) {
		text, err := h.listMembers(ctx, ev, sc, leaders)
		return text, nil, err
	}
}

// listMembers lists the most active members or the leaders of the organiser's scope.
func (h *Handler) listMembers(ctx context.Context, ev events.Event, sc scope.Scope, leaders bool) (string, error) {
	n := listSize(ev.Command.Args)
	list, err := h.ranked(ctx, sc, n, leaders)
	if err != nil {
		return "", err
	}
	if leaders {
		// The ranking orders everyone who was ever answered; a relais is who earned the tag.
		tag := h.cfg.TagPrefix + "leader"
		list = slices.DeleteFunc(slices.Clone(list), func(m MemberCard) bool { return !slices.Contains(m.Tags, tag) })
	}
	if len(list) > n {
		list = list[:n]
	}
	if len(list) == 0 {
		return h.cat.NobodyYet, nil
	}
	for _, m := range list {
		journal.Note(ctx, m.Token)
	}
	var b strings.Builder
	if leaders {
		b.WriteString(h.cat.LeadersTitle.N(len(list), h.cat.Days.N(h.cfg.WindowDays)))
	} else {
		b.WriteString(h.cat.ActiveTitle.N(len(list), h.cat.Days.N(h.cfg.WindowDays)))
	}
	for i, m := range list {
		if leaders {
			b.WriteString("\n" + fmt.Sprintf(h.cat.LeadersLine, i+1, displayName(m), m.People))
		} else {
			b.WriteString("\n" + fmt.Sprintf(h.cat.ActiveLine, i+1, displayName(m), m.Messages, m.ActiveDays))
		}
	}
	return b.String(), nil
}

// displayName is how a member appears in a list: name and @username when known.
func displayName(m MemberCard) string {
	name := strings.TrimSpace(m.Name)
	user := strings.TrimPrefix(strings.TrimSpace(m.Username), "@")
	switch {
	case name != "" && user != "":
		return name + " (@" + user + ")"
	case name != "":
		return name
	case user != "":
		return "@" + user
	}
	return "?"
}

// card answers /fiche <name|@user>.
func (h *Handler) card(ctx context.Context, ev events.Event, sc scope.Scope) (string, []GroupStats, error) {
	text, err := h.cardText(ctx, ev, sc)
	return text, nil, err
}

// cardText finds the member the organiser named and writes their card.
func (h *Handler) cardText(ctx context.Context, ev events.Event, sc scope.Scope) (string, error) {
	q := searchText(ev.Command.Args)
	if q == "" {
		return h.cat.CardUsage, nil
	}
	found, err := h.query.FindMembers(ctx, q, func(c MemberCard) bool { _, ok := sc.Card(c); return ok })
	if err != nil {
		return "", fmt.Errorf("find members: %w", err)
	}
	found = sc.Cards(found)
	for _, m := range found {
		journal.Note(ctx, m.Token)
	}
	switch len(found) {
	case 0:
		return fmt.Sprintf(h.cat.CardNotFound, q), nil
	case 1:
		rec, hasConsent, err := h.consent.Get(ctx, found[0].Token)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		h.writeCard(&b, found[0], rec, hasConsent)
		return b.String(), nil
	}
	var b strings.Builder
	b.WriteString(h.cat.ManyMembers)
	for i, m := range found {
		if i == maxMatchesListed {
			b.WriteString("\n" + h.cat.StatsMore.N(len(found)-i))
			break
		}
		b.WriteString("\n• " + displayName(m))
	}
	return b.String(), nil
}

// syncState answers /sync.
func (h *Handler) syncState(ctx context.Context) (string, error) {
	if h.sync == nil {
		return h.cat.SyncUnavailable, nil
	}
	info, err := h.sync.SyncInfo(ctx)
	if err != nil {
		return "", fmt.Errorf("sync info: %w", err)
	}
	lines := []string{
		h.cat.SyncTitle,
		fmt.Sprintf(h.cat.SyncPending, info.Pending),
		fmt.Sprintf(h.cat.SyncLastSuccess, h.cat.dateTime(info.LastSuccessAt)),
	}
	if info.LastError == "" {
		lines = append(lines, h.cat.SyncNoError)
	} else {
		lines = append(lines, fmt.Sprintf(h.cat.SyncLastError, h.cat.dateTime(info.LastErrorAt), info.LastError))
	}
	return strings.Join(lines, "\n"), nil
}

// --- notice ------------------------------------------------------------------------------

// PostNotice posts the information notice in a group, now.
func (h *Handler) PostNotice(ctx context.Context, platform events.Platform, groupID string) error {
	if !platform.Valid() || groupID == "" {
		return fmt.Errorf("commands: notice: invalid platform or group")
	}
	group := h.hash.Group(platform, groupID)
	r := events.Reply{
		V:        events.Version,
		ID:       fmt.Sprintf("notice-%s-v%d", group, NoticeVersion),
		Platform: platform,
		Chat:     groupID,
		Text:     h.noticeText(h.consent.Policy(group)),
	}
	if err := h.pub.Reply(ctx, r); err != nil {
		return fmt.Errorf("commands: notice: %w", err)
	}
	return nil
}

// GroupSeen posts the notice in a group the bridge sees, under the notice policy, once per
// group ever (bridge.GroupObserver).
func (h *Handler) GroupSeen(ctx context.Context, platform events.Platform, groupID string) error {
	_, err := h.PostNoticeOnce(ctx, platform, groupID)
	return err
}

// PostNoticeOnce posts the notice in a group under the notice policy, once per notice
// version across restarts and replicas. The bridge calls it (through GroupSeen) when it
// first sees a group. posted says whether this call posted it.
func (h *Handler) PostNoticeOnce(ctx context.Context, platform events.Platform, groupID string) (posted bool, err error) {
	if !platform.Valid() || groupID == "" {
		return false, fmt.Errorf("commands: notice: invalid platform or group")
	}
	group := h.hash.Group(platform, groupID)
	if h.consent.Policy(group) != consent.PolicyNotice {
		return false, nil
	}
	claimed, err := h.consent.ClaimNotice(ctx, group, NoticeVersion)
	if err != nil || !claimed {
		return false, err
	}
	if err := h.PostNotice(ctx, platform, groupID); err != nil {
		if rerr := h.consent.ReleaseNotice(ctx, group); rerr != nil {
			h.log.Warn("notice claim not released", "group", group, "err", rerr)
		}
		return false, err
	}
	h.log.Info("notice posted", "group", group, "version", NoticeVersion)
	return true, nil
}

// ranked returns the members of a scope with the most messages (or, for leaders, the most
// distinct people who answered them), most first. Admins read the deployment's rankings; an
// organiser's scope is ranked from everyone seen in its groups, so a small group's members
// are not crowded out by the whole party's.
func (h *Handler) ranked(ctx context.Context, sc scope.Scope, n int, leaders bool) ([]MemberCard, error) {
	by := func(c MemberCard) int { return c.Messages }
	if leaders {
		by = func(c MemberCard) int { return c.People }
	}
	if _, ok := h.query.(MemberSource); ok && !sc.All() {
		all, err := h.ScopedMembers(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		all = slices.DeleteFunc(all, func(c MemberCard) bool { return by(c) == 0 })
		slices.SortStableFunc(all, func(a, b MemberCard) int { return by(b) - by(a) })
		return all, nil
	}
	fetch := n
	if !sc.All() {
		fetch = max(n, scopedFetch)
	}
	var (
		list []MemberCard
		err  error
	)
	if leaders {
		list, err = h.query.Leaders(ctx, fetch)
	} else {
		list, err = h.query.TopActive(ctx, fetch)
	}
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return sc.Cards(list), nil
}
