package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/commands/reply"
	"github.com/relais-bot/relais/events"
)

// Campaign states.
const (
	stateDraft     = "draft"
	stateCancelled = "cancelled"
	stateConfirmed = "confirmed" // queueing in progress (a retry queues the rest)
	stateQueued    = "queued"
)

// campaign is one campaign as stored under events.CampaignKey. Text is the organiser's
// message, the one text relais keeps on purpose (see events.ArgText).
type campaign struct {
	Slug          string          `json:"slug"`
	Text          string          `json:"text"`
	Platform      events.Platform `json:"platform"`
	Organiser     string          `json:"organiser"`      // the organiser's token
	OrganiserChat string          `json:"organiser_chat"` // their private chat, for answers
	Leaders       bool            `json:"leaders"`
	Actives       bool            `json:"actives"`
	Groups        []string        `json:"groups,omitempty"` // tokens; empty: every group allowed
	GroupTitles   []string        `json:"group_titles,omitempty"`
	State         string          `json:"state"`
	Created       time.Time       `json:"created"`
	Confirmed     time.Time       `json:"confirmed,omitzero"`
	// ConfirmedBy is the event that confirmed it: only that event, redelivered, queues the
	// rest; any other press is told it is confirmed already.
	ConfirmedBy string `json:"confirmed_by,omitempty"`
	Queued      int    `json:"queued"`
}

// allTokens is a member's token and their aliases'.
func (f *Feature) allTokens(member string) []string {
	main := f.d.Consent.Canonical(member)
	out := []string{main}
	if member != main {
		out = append(out, member)
	}
	for _, a := range f.d.Consent.Aliases(main) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func (c *store) get(ctx context.Context, key string) (string, uint64, error) {
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("campaigns: %w", err)
	}
	return string(e.Value()), e.Revision(), nil
}

func (c *store) load(ctx context.Context, slug string) (campaign, uint64, bool, error) {
	if !events.ValidSlug(slug) {
		return campaign{}, 0, false, nil
	}
	v, rev, err := c.get(ctx, events.CampaignKey(slug))
	if err != nil || v == "" {
		return campaign{}, 0, false, err
	}
	var cp campaign
	if err := json.Unmarshal([]byte(v), &cp); err != nil {
		return campaign{}, 0, false, fmt.Errorf("campaigns: unreadable campaign: %w", err)
	}
	return cp, rev, true, nil
}

func (c *store) save(ctx context.Context, cp campaign, rev uint64) error {
	raw, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = c.kv.Create(ctx, events.CampaignKey(cp.Slug), raw)
	} else {
		_, err = c.kv.Update(ctx, events.CampaignKey(cp.Slug), raw, rev)
	}
	if err != nil {
		return fmt.Errorf("campaigns: save: %w", err)
	}
	return nil
}

// scan reads every key of the bucket matching filter with its value.
func (c *store) scan(ctx context.Context, filter string) (map[string]string, error) {
	w, err := c.kv.WatchFiltered(ctx, []string{filter}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("campaigns: scan: %w", err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]string{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			out[e.Key()] = string(e.Value())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			return nil, errors.New("campaigns: scan timed out")
		}
	}
}

// --- /mobiliser ------------------------------------------------------------------------------

// audienceSpec is what the first line of /mobiliser's text may say.
type audienceSpec struct {
	leaders, actives bool
	groups           []string // names to look for; none: every group
}

// parseMobilise reads "/mobiliser [leaders|actifs|tous] [dans <g1>, <g2>]\n<message>": the
// first line is an audience line only when it starts with an audience word; the default is
// the leaders of every group, and the whole text is then the message.
func parseMobilise(arg string) (audienceSpec, string) {
	spec := audienceSpec{leaders: true}
	first, rest, _ := strings.Cut(arg, "\n")
	words := strings.Fields(first)
	if len(words) == 0 {
		return spec, strings.TrimSpace(rest)
	}
	switch strings.ToLower(words[0]) {
	case "leaders", "relais", "leader":
	case "actifs", "actives", "active", "actif":
		spec = audienceSpec{actives: true}
	case "tous", "all", "both":
		spec = audienceSpec{leaders: true, actives: true}
	default:
		return audienceSpec{leaders: true}, strings.TrimSpace(arg)
	}
	if len(words) == 1 {
		return spec, strings.TrimSpace(rest)
	}
	// An audience line is the audience word alone, or followed by "dans <groups>": anything
	// else is the message's own first line ("Leaders du quartier, venez…").
	if len(words) < 3 || !slices.Contains([]string{"dans", "in", "groupe", "groupes", "group", "groups"}, strings.ToLower(words[1])) {
		return audienceSpec{leaders: true}, strings.TrimSpace(arg)
	}
	for _, g := range strings.Split(strings.Join(words[2:], " "), ",") {
		if g = strings.TrimSpace(g); g != "" {
			spec.groups = append(spec.groups, g)
		}
	}
	if len(spec.groups) == 0 {
		return audienceSpec{leaders: true}, strings.TrimSpace(arg)
	}
	return spec, strings.TrimSpace(rest)
}

func (f *Feature) audienceName(cp campaign) string {
	t := f.txt
	who := t.AudienceLeaders
	switch {
	case cp.Leaders && cp.Actives:
		who = t.AudienceBoth
	case cp.Actives:
		who = t.AudienceActives
	}
	where := t.AllGroups
	if len(cp.GroupTitles) > 0 {
		where = strings.Join(cp.GroupTitles, ", ")
	}
	return who + " · " + where
}

// memberText is the campaign message as a member on platform p receives it.
func (f *Feature) memberText(cp campaign, p events.Platform) string {
	t := f.txt
	s := cp.Text + "\n\n" + fmt.Sprintf(t.Footer, f.d.Controller, f.st.cfg.MaxPerWeek)
	if p != events.Telegram {
		s += "\n" + t.Words
	}
	return s
}

func (f *Feature) memberButtons(cp campaign, p events.Platform) []events.Button {
	if p != events.Telegram {
		return nil
	}
	t := f.txt
	return []events.Button{
		{Text: t.ButtonRelay, Data: "/jerelaie " + cp.Slug},
		{Text: t.ButtonNotNow, Data: "/pascettefois " + cp.Slug},
		{Text: t.ButtonNoMore, Data: "/neplusmesolliciter " + cp.Slug},
	}
}

func (f *Feature) mobilise(ctx context.Context, req command.Request) (events.Reply, error) {
	ev, organiser := req.Event, req.Member
	t := f.txt
	arg := ""
	if len(ev.Command.Args) > 0 {
		arg = ev.Command.Args[0]
	}
	spec, text := parseMobilise(arg)
	if text == "" {
		return f.d.Replies.Private(ev, "mobilise-usage", t.Usage), nil
	}
	allowed, sc, err := f.allowedGroups(ctx, ev)
	if err != nil {
		return events.Reply{}, err
	}
	cp, rev, found, err := f.draftSlot(ctx, ev, organiser, text)
	if err != nil {
		return events.Reply{}, err
	}
	slug := cp.Slug
	if !found {
		cp = campaign{Slug: slug, Text: text, Platform: ev.Platform, Organiser: organiser, OrganiserChat: ev.Sender.ID,
			Leaders: spec.leaders, Actives: spec.actives, State: stateDraft, Created: f.d.Now().UTC()}
		for _, name := range spec.groups {
			gs, err := f.d.Directory.FindGroup(ctx, name)
			if err != nil {
				return events.Reply{}, fmt.Errorf("find group: %w", err)
			}
			// A name that also matches a group the platform could not answer about would
			// make a draft silently narrower than asked: none is made until it answers.
			if slices.ContainsFunc(gs, func(g bridge.GroupStats) bool { return sc.Misses(g.Token) }) {
				return f.d.Replies.Private(ev, "mobilise-unchecked", f.d.Scopes.Unchecked(sc)), nil
			}
			// A group out of the organiser's scope is not found: its title is not theirs to learn.
			gs = slices.DeleteFunc(gs, func(g bridge.GroupStats) bool { return !slices.Contains(allowed, g.Token) })
			if len(gs) == 0 {
				return f.d.Replies.Private(ev, "mobilise-nogroup", f.d.Scopes.WithUnchecked(sc, fmt.Sprintf(t.NoGroupMatch, name))), nil
			}
			for _, g := range gs {
				if !slices.Contains(cp.Groups, g.Token) {
					cp.Groups = append(cp.Groups, g.Token)
					cp.GroupTitles = append(cp.GroupTitles, g.Title)
				}
			}
		}
	}
	cands, err := f.audience(ctx, cp, allowed)
	if err != nil {
		return events.Reply{}, err
	}
	if !found {
		if err := f.st.save(ctx, cp, rev); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return events.Reply{}, err
		}
		if _, err := f.st.kv.Put(ctx, events.DraftKey(organiser), []byte(slug)); err != nil {
			return events.Reply{}, fmt.Errorf("campaigns: %w", err)
		}
		f.st.metrics.campaigns.WithLabelValues(stateDraft).Inc()
	}
	counts := map[bridge.Reach]int{}
	for _, c := range cands {
		counts[c.Reach]++
	}
	var b strings.Builder
	b.WriteString(fmt.Sprintf(t.Preview, f.audienceName(cp), slug, f.memberText(cp, ev.Platform)))
	b.WriteString("\n\n" + fmt.Sprintf(t.CountNow, counts[bridge.ReachNow]))
	b.WriteString("\n" + fmt.Sprintf(t.CountUnreachable, counts[bridge.ReachUnreachable]))
	b.WriteString("\n" + fmt.Sprintf(t.CountNotConsented, counts[bridge.ReachNotConsented]))
	b.WriteString("\n" + fmt.Sprintf(t.CountObjected, counts[bridge.ReachObjected]))
	if n := counts[bridge.ReachOptedOut]; n > 0 {
		b.WriteString("\n" + fmt.Sprintf(t.CountOptedOut, n))
	}
	if n := counts[bridge.ReachCapped]; n > 0 {
		b.WriteString("\n" + t.CountCapped.N(f.st.cfg.MaxPerWeek, n))
	}
	if audienceIncomplete(cp, sc) {
		b.WriteString("\n\n" + fmt.Sprintf(t.PreviewIncomplete, f.d.Scopes.UncheckedTitles(sc)))
	}
	b.WriteString("\n\n" + t.ConfirmHint)
	if ev.Platform != events.Telegram {
		b.WriteString("\n" + t.ConfirmWords)
	}
	r := f.d.Replies.Private(ev, "mobilise-preview", reply.Clip(b.String()))
	if ev.Platform == events.Telegram {
		r.Buttons = []events.Button{{Text: t.ButtonSend, Data: "/envoyer " + slug}, {Text: t.ButtonCancel, Data: "/annuler " + slug}}
	}
	return r, nil
}

// audience finds a campaign's candidates among the groups the organiser may address.
func (f *Feature) audience(ctx context.Context, cp campaign, allowed []string) ([]bridge.Candidate, error) {
	groups := allowed
	if len(cp.Groups) > 0 {
		groups = nil
		for _, g := range cp.Groups {
			if slices.Contains(allowed, g) {
				groups = append(groups, g)
			}
		}
		if len(groups) == 0 {
			return nil, nil // every named group left the scope since the draft
		}
	}
	cands, err := f.st.cfg.Audience.Audience(ctx, groups, bridge.AudienceTags{Leaders: cp.Leaders, Actives: cp.Actives},
		ledger{f: f, now: f.d.Now()}, f.st.cfg.MaxPerWeek)
	if err != nil {
		return nil, fmt.Errorf("audience: %w", err)
	}
	return cands, nil
}

// slugOr is the slug of the command, or else the one kept under key (the organiser's
// latest draft, the member's latest campaign received).
func (f *Feature) slugOr(ctx context.Context, ev events.Event, key string) (string, error) {
	if len(ev.Command.Args) > 0 && events.ValidSlug(ev.Command.Args[0]) {
		return ev.Command.Args[0], nil
	}
	v, _, err := f.st.get(ctx, key)
	return v, err
}

func (f *Feature) stateName(state string) string {
	switch state {
	case stateDraft:
		return f.txt.StateDraft
	case stateCancelled:
		return f.txt.StateCancelled
	}
	return f.txt.StateSending
}
