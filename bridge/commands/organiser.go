package commands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// Bounds that keep an answer within one chat message (Telegram's limit is 4096 characters).
const (
	maxGroupsListed  = 25
	maxMatchesListed = 10
	maxAnswerRunes   = 4000
)

// organiserCommand answers an organiser privately; in a group, the group only learns that
// the answer went privately.
func (h *Handler) organiserCommand(ctx context.Context, ev events.Event, cmd command) error {
	if cmd.campaignOrganiser() {
		return h.campaignCommand(ctx, ev, cmd)
	}
	var (
		text string
		err  error
	)
	sc, err := h.Scope(ctx, h.Who(ev.Platform, ev.Sender))
	if err != nil {
		return err
	}
	if sc.Empty() && cmd != cmdSync {
		return h.sendPrivately(ctx, ev, h.private(ev, "answer", cmp.Or(h.missingNote(h.missingNames(sc)), h.org.NoScope)))
	}
	var shown []GroupStats // the groups /stats answered about, for its chart
	switch cmd {
	case cmdStats:
		text, shown, err = h.stats(ctx, ev, sc)
	case cmdActive:
		text, err = h.memberList(ctx, ev, sc, false)
	case cmdLeaders:
		text, err = h.memberList(ctx, ev, sc, true)
	case cmdCard:
		text, err = h.card(ctx, ev, sc)
	case cmdSync:
		text, err = h.syncState(ctx)
	case cmdDigest:
		text, err = h.digest(ctx, sc)
	case cmdDashboard:
		return h.dashboardLink(ctx, ev)
	default:
		return fmt.Errorf("no organiser command %d", cmd)
	}
	if err != nil {
		return err
	}
	if cmd == cmdSync || cmd == cmdDigest {
		text = clip(text) // the CRM is no scope's; a digest says what it misses itself
	} else {
		text = h.withMissing(sc, text)
	}
	if err := h.sendPrivately(ctx, ev, h.private(ev, "answer", text)); err != nil {
		return err
	}
	if len(shown) > 0 {
		return h.sendChart(ctx, ev, shown)
	}
	return nil
}

// clip keeps an answer within one message.
func clip(s string) string { return clipTo(s, maxAnswerRunes) }

// clipTo keeps s within n runes.
func clipTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:max(n-1, 0)]) + "…"
}

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
func (h *Handler) memberList(ctx context.Context, ev events.Event, sc scope.Scope, leaders bool) (string, error) {
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
func (h *Handler) card(ctx context.Context, ev events.Event, sc scope.Scope) (string, error) {
	q := searchText(ev.Command.Args)
	if q == "" {
		return h.cat.CardUsage, nil
	}
	found, err := h.query.FindMembers(ctx, q, func(c MemberCard) bool { _, ok := sc.Card(c); return ok })
	if err != nil {
		return "", fmt.Errorf("find members: %w", err)
	}
	found = sc.Cards(found)
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
