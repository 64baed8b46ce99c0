package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/bridge/consent"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// AudienceQuery finds a campaign's audience among the groups the organiser may address.
type AudienceQuery interface {
	Audience(ctx context.Context, groups []string, want bridge.AudienceTags, ledger bridge.ContactLedger, perWeek int) ([]bridge.Candidate, error)
	GroupTokens(ctx context.Context) ([]string, error)
}

// CampaignConfig turns campaigns on.
type CampaignConfig struct {
	// MaxPerWeek is RELAIS_CAMPAIGN_MAX_PER_WEEK (default 2).
	MaxPerWeek int
	Audience   AudienceQuery
	// AllowedGroups returns the group tokens an organiser may address. Nil: every group.
	// (Organiser scopes plug in here.)
	AllowedGroups func(ctx context.Context, p events.Platform, organiserID string) ([]string, error)
	Registerer    prometheus.Registerer
}

// campaigns is the handler's campaign side: the bucket and the settings.
type campaigns struct {
	cfg     CampaignConfig
	kv      jetstream.KeyValue
	txt     CampaignTexts
	metrics campaignMetrics
}

type campaignMetrics struct {
	campaigns  *prometheus.CounterVec // by state reached: draft, cancelled, confirmed
	recipients *prometheus.CounterVec // at confirmation, by reach
	answers    *prometheus.CounterVec // by answer
}

func newCampaignMetrics(reg prometheus.Registerer) campaignMetrics {
	m := campaignMetrics{
		campaigns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "relais", Subsystem: "campaign", Name: "campaigns_total",
			Help: "Campaigns by state reached (draft, confirmed, cancelled)."}, []string{"state"}),
		recipients: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "relais", Subsystem: "campaign", Name: "audience_total",
			Help: "Members of confirmed campaigns' audiences, by reach (queued, unreachable, not_consented, objected, opted_out, capped)."}, []string{"reach"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "relais", Subsystem: "campaign", Name: "answers_total",
			Help: "Answers to campaign messages, by answer (relay, not_now, no_more)."}, []string{"answer"}),
	}
	if reg != nil {
		m.campaigns = registerOr(reg, m.campaigns)
		m.recipients = registerOr(reg, m.recipients)
		m.answers = registerOr(reg, m.answers)
	}
	return m
}

func registerOr(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}

// EnableCampaigns opens the campaigns bucket and answers /mobiliser, /campagnes, /campagne
// and the campaign buttons. Without it those get a "not available here" answer.
func (h *Handler) EnableCampaigns(ctx context.Context, c CampaignConfig) error {
	if c.Audience == nil {
		return errors.New("commands: campaigns need an audience query")
	}
	if c.MaxPerWeek < 0 {
		return errors.New("commands: campaigns a week must not be negative")
	}
	kv, err := h.js.KeyValue(ctx, h.names.CampaignsBucket())
	if err != nil {
		return fmt.Errorf("commands: campaigns bucket: %w", err)
	}
	h.camp = &campaigns{cfg: c, kv: kv, txt: campaignTextsFor(h.cfg.Lang), metrics: newCampaignMetrics(c.Registerer)}
	return nil
}

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
	Queued        int             `json:"queued"`
}

// --- the ledger the gate reads ---------------------------------------------------------------

type weekRecord struct {
	Week  string   `json:"week"`
	Slugs []string `json:"slugs"`
}

func weekOf(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// ledger implements bridge.ContactLedger over the campaigns bucket.
type ledger struct {
	h   *Handler
	now time.Time
}

func (l ledger) Reachable(ctx context.Context, member string) (bool, error) {
	for _, tok := range l.h.allTokens(member) {
		v, _, err := l.h.camp.get(ctx, events.ReachKey(tok))
		if err != nil {
			return false, err
		}
		if v == events.ReachOpen {
			return true, nil
		}
	}
	return false, nil
}

func (l ledger) ThisWeek(ctx context.Context, member string) (int, error) {
	w, _, err := l.h.camp.week(ctx, l.h.consent.Canonical(member))
	if err != nil {
		return 0, err
	}
	if w.Week != weekOf(l.now) {
		return 0, nil
	}
	return len(w.Slugs), nil
}

// allTokens is a member's token and their aliases'.
func (h *Handler) allTokens(member string) []string {
	main := h.consent.Canonical(member)
	out := []string{main}
	if member != main {
		out = append(out, member)
	}
	for _, a := range h.consent.Aliases(main) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func (c *campaigns) get(ctx context.Context, key string) (string, uint64, error) {
	e, err := c.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("campaigns: %w", err)
	}
	return string(e.Value()), e.Revision(), nil
}

func (c *campaigns) week(ctx context.Context, member string) (weekRecord, uint64, error) {
	v, rev, err := c.get(ctx, events.WeekKey(member))
	if err != nil || v == "" {
		return weekRecord{}, rev, err
	}
	var w weekRecord
	if err := json.Unmarshal([]byte(v), &w); err != nil {
		return weekRecord{}, rev, nil // unreadable: replaced by the next write
	}
	return w, rev, nil
}

// countWeek adds a campaign to a member's week, unless the cap is reached. It is idempotent:
// a campaign already counted is counted once (a retried confirmation). ok false: capped.
func (c *campaigns) countWeek(ctx context.Context, member, slug string, now time.Time) (bool, error) {
	for range 10 {
		w, rev, err := c.week(ctx, member)
		if err != nil {
			return false, err
		}
		if w.Week != weekOf(now) {
			w = weekRecord{Week: weekOf(now)}
		}
		if slices.Contains(w.Slugs, slug) {
			return true, nil
		}
		if len(w.Slugs) >= c.cfg.MaxPerWeek {
			return false, nil
		}
		w.Slugs = append(w.Slugs, slug)
		raw, _ := json.Marshal(w)
		if rev == 0 {
			_, err = c.kv.Create(ctx, events.WeekKey(member), raw)
		} else {
			_, err = c.kv.Update(ctx, events.WeekKey(member), raw, rev)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !events.IsWrongLastSequence(err) {
			return false, fmt.Errorf("campaigns: week: %w", err)
		}
	}
	return false, errors.New("campaigns: week: too much contention")
}

func (c *campaigns) load(ctx context.Context, slug string) (campaign, uint64, bool, error) {
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

func (c *campaigns) save(ctx context.Context, cp campaign, rev uint64) error {
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
func (c *campaigns) scan(ctx context.Context, filter string) (map[string]string, error) {
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

// campaignSlug derives a campaign's slug from the command's event (a redelivered /mobiliser
// finds its draft) and the first words of the text, so organisers can tell campaigns apart.
func campaignSlug(eventID, text string) string {
	sum := sha256.Sum256([]byte(eventID))
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(foldASCII(text)), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if len(w) >= 3 {
			words = append(words, w[:min(len(w), 12)])
		}
		if len(words) == 2 {
			break
		}
	}
	words = append(words, hex.EncodeToString(sum[:2]))
	return strings.Join(words, "-")
}

// foldASCII drops accents of the Latin letters French uses; other letters are dropped.
func foldASCII(s string) string {
	r := strings.NewReplacer("à", "a", "â", "a", "ä", "a", "ç", "c", "é", "e", "è", "e", "ê", "e", "ë", "e",
		"î", "i", "ï", "i", "ô", "o", "ö", "o", "ù", "u", "û", "u", "ü", "u", "ÿ", "y", "œ", "oe", "æ", "ae",
		"À", "a", "Â", "a", "Ç", "c", "É", "e", "È", "e", "Ê", "e", "Î", "i", "Ô", "o", "Ù", "u", "Û", "u")
	return strings.Map(func(c rune) rune {
		if c > unicode.MaxASCII {
			return ' '
		}
		return c
	}, r.Replace(s))
}

func (h *Handler) audienceName(cp campaign) string {
	t := h.camp.txt
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
func (h *Handler) memberText(cp campaign, p events.Platform) string {
	t := h.camp.txt
	s := cp.Text + "\n\n" + fmt.Sprintf(t.Footer, h.cfg.Controller, h.camp.cfg.MaxPerWeek)
	if p != events.Telegram {
		s += "\n" + t.Words
	}
	return s
}

func (h *Handler) memberButtons(cp campaign, p events.Platform) []events.Button {
	if p != events.Telegram {
		return nil
	}
	t := h.camp.txt
	return []events.Button{
		{Text: t.ButtonRelay, Data: "/jerelaie " + cp.Slug},
		{Text: t.ButtonNotNow, Data: "/pascettefois " + cp.Slug},
		{Text: t.ButtonNoMore, Data: "/neplusmesolliciter " + cp.Slug},
	}
}

// campaignCommand answers the organiser side of campaigns, privately.
func (h *Handler) campaignCommand(ctx context.Context, ev events.Event, cmd command) error {
	if h.camp == nil {
		return h.sendPrivately(ctx, ev, h.private(ev, "campaign", h.camp0().Disabled))
	}
	organiser := h.consent.Canonical(h.hash.Member(ev.Platform, ev.Sender.ID))
	var (
		r   events.Reply
		err error
	)
	switch cmd {
	case cmdMobilise:
		r, err = h.mobilise(ctx, ev, organiser)
	case cmdSend:
		r, err = h.confirmCampaign(ctx, ev, organiser)
	case cmdCancel:
		r, err = h.cancelCampaign(ctx, ev, organiser)
	case cmdCampaigns:
		var text string
		text, err = h.listCampaigns(ctx, organiser)
		r = h.private(ev, "answer", clip(text))
	case cmdCampaign:
		var text string
		text, err = h.campaignDetail(ctx, ev, organiser)
		r = h.private(ev, "answer", clip(text))
	}
	if err != nil {
		return err
	}
	return h.sendPrivately(ctx, ev, r)
}

// camp0 gives the texts even when campaigns are off.
func (h *Handler) camp0() CampaignTexts {
	if h.camp != nil {
		return h.camp.txt
	}
	return campaignTextsFor(h.cfg.Lang)
}

func (h *Handler) mobilise(ctx context.Context, ev events.Event, organiser string) (events.Reply, error) {
	t := h.camp.txt
	arg := ""
	if len(ev.Command.Args) > 0 {
		arg = ev.Command.Args[0]
	}
	spec, text := parseMobilise(arg)
	if text == "" {
		return h.private(ev, "mobilise-usage", t.Usage), nil
	}
	slug := campaignSlug(ev.ID, text)
	allowed, sc, err := h.allowedGroups(ctx, ev)
	if err != nil {
		return events.Reply{}, err
	}
	cp, rev, found, err := h.camp.load(ctx, slug)
	if err != nil {
		return events.Reply{}, err
	}
	if !found {
		cp = campaign{Slug: slug, Text: text, Platform: ev.Platform, Organiser: organiser, OrganiserChat: ev.Sender.ID,
			Leaders: spec.leaders, Actives: spec.actives, State: stateDraft, Created: h.cfg.Now().UTC()}
		for _, name := range spec.groups {
			gs, err := h.query.FindGroup(ctx, name)
			if err != nil {
				return events.Reply{}, fmt.Errorf("find group: %w", err)
			}
			// A group out of the organiser's scope is not found: its title is not theirs to learn.
			gs = slices.DeleteFunc(gs, func(g GroupStats) bool { return !slices.Contains(allowed, g.Token) })
			if len(gs) == 0 {
				return h.private(ev, "mobilise-nogroup", h.withMissing(sc, fmt.Sprintf(t.NoGroupMatch, name))), nil
			}
			for _, g := range gs {
				if !slices.Contains(cp.Groups, g.Token) {
					cp.Groups = append(cp.Groups, g.Token)
					cp.GroupTitles = append(cp.GroupTitles, g.Title)
				}
			}
		}
	}
	cands, err := h.audience(ctx, cp, allowed)
	if err != nil {
		return events.Reply{}, err
	}
	if !found {
		if err := h.camp.save(ctx, cp, rev); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return events.Reply{}, err
		}
		if _, err := h.camp.kv.Put(ctx, events.DraftKey(organiser), []byte(slug)); err != nil {
			return events.Reply{}, fmt.Errorf("campaigns: %w", err)
		}
		h.camp.metrics.campaigns.WithLabelValues(stateDraft).Inc()
	}
	counts := map[bridge.Reach]int{}
	for _, c := range cands {
		counts[c.Reach]++
	}
	var b strings.Builder
	b.WriteString(fmt.Sprintf(t.Preview, h.audienceName(cp), slug, h.memberText(cp, ev.Platform)))
	b.WriteString("\n\n" + fmt.Sprintf(t.CountNow, counts[bridge.ReachNow]))
	b.WriteString("\n" + fmt.Sprintf(t.CountUnreachable, counts[bridge.ReachUnreachable]))
	b.WriteString("\n" + fmt.Sprintf(t.CountNotConsented, counts[bridge.ReachNotConsented]))
	b.WriteString("\n" + fmt.Sprintf(t.CountObjected, counts[bridge.ReachObjected]))
	if n := counts[bridge.ReachOptedOut]; n > 0 {
		b.WriteString("\n" + fmt.Sprintf(t.CountOptedOut, n))
	}
	if n := counts[bridge.ReachCapped]; n > 0 {
		b.WriteString("\n" + fmt.Sprintf(t.CountCapped, h.camp.cfg.MaxPerWeek, n))
	}
	if audienceIncomplete(cp, sc) {
		b.WriteString("\n\n" + fmt.Sprintf(t.PreviewIncomplete, listTitles(sc.MissingTitles())))
	}
	b.WriteString("\n\n" + t.ConfirmHint)
	if ev.Platform != events.Telegram {
		b.WriteString("\n" + t.ConfirmWords)
	}
	r := h.private(ev, "mobilise-preview", clip(b.String()))
	if ev.Platform == events.Telegram {
		r.Buttons = []events.Button{{Text: t.ButtonSend, Data: "/envoyer " + slug}, {Text: t.ButtonCancel, Data: "/annuler " + slug}}
	}
	return r, nil
}

// audience finds a campaign's candidates among the groups the organiser may address.
func (h *Handler) audience(ctx context.Context, cp campaign, allowed []string) ([]bridge.Candidate, error) {
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
	cands, err := h.camp.cfg.Audience.Audience(ctx, groups, bridge.AudienceTags{Leaders: cp.Leaders, Actives: cp.Actives},
		ledger{h: h, now: h.cfg.Now()}, h.camp.cfg.MaxPerWeek)
	if err != nil {
		return nil, fmt.Errorf("audience: %w", err)
	}
	return cands, nil
}

// slugOr is the slug of the command, or else the one kept under key (the organiser's
// latest draft, the member's latest campaign received).
func (h *Handler) slugOr(ctx context.Context, ev events.Event, key string) (string, error) {
	if len(ev.Command.Args) > 0 && events.ValidSlug(ev.Command.Args[0]) {
		return ev.Command.Args[0], nil
	}
	v, _, err := h.camp.get(ctx, key)
	return v, err
}

func (h *Handler) stateName(state string) string {
	switch state {
	case stateDraft:
		return h.camp.txt.StateDraft
	case stateCancelled:
		return h.camp.txt.StateCancelled
	}
	return h.camp.txt.StateSending
}

// ownCampaign loads the campaign a command names, else the organiser's latest draft, and
// says whether that organiser wrote it: only who wrote a campaign confirms or cancels it.
func (h *Handler) ownCampaign(ctx context.Context, ev events.Event, organiser string) (campaign, uint64, bool, error) {
	slug, err := h.slugOr(ctx, ev, events.DraftKey(organiser))
	if err != nil {
		return campaign{}, 0, false, err
	}
	cp, rev, found, err := h.camp.load(ctx, slug)
	if err != nil {
		return campaign{}, 0, false, err
	}
	return cp, rev, found && cp.Organiser == organiser, nil
}

// confirmCampaign queues a draft's recipients. Each step is idempotent, so a retried
// confirmation (a crash half-way, a redelivery) queues the rest and nobody twice: the week
// count remembers the campaign, the queue drops a duplicate message id, and the adapters'
// delivery claims send each recipient at most once.
func (h *Handler) confirmCampaign(ctx context.Context, ev events.Event, organiser string) (events.Reply, error) {
	t := h.camp.txt
	cp, rev, ok, err := h.ownCampaign(ctx, ev, organiser)
	if err != nil {
		return events.Reply{}, err
	}
	if !ok {
		return h.private(ev, "send", t.NoDraft), nil
	}
	slug := cp.Slug
	if cp.State == stateCancelled || cp.State == stateQueued {
		return h.private(ev, "send", fmt.Sprintf(t.AlreadyDone, slug, h.stateName(cp.State))), nil
	}
	// Checked before anything changes: a refused confirmation leaves the draft as it was.
	allowed, sc, err := h.allowedGroups(ctx, ev)
	if err != nil {
		return events.Reply{}, err
	}
	if audienceIncomplete(cp, sc) {
		h.log.Warn("campaign not confirmed: scope incomplete", "campaign", slug, "unchecked", len(sc.Missing()))
		return h.private(ev, "send", fmt.Sprintf(t.Incomplete, slug, listTitles(sc.MissingTitles()))), nil
	}
	if cp.State == stateDraft {
		cp.State, cp.Confirmed = stateConfirmed, h.cfg.Now().UTC()
		if err := h.camp.save(ctx, cp, rev); err != nil {
			return events.Reply{}, err // a concurrent confirmation: the retry finds it confirmed
		}
		h.camp.metrics.campaigns.WithLabelValues(stateConfirmed).Inc()
	}
	cands, err := h.audience(ctx, cp, allowed)
	if err != nil {
		return events.Reply{}, err
	}
	queued := 0
	for _, c := range cands {
		if c.Reach != bridge.ReachNow {
			h.camp.metrics.recipients.WithLabelValues(reachLabel(c.Reach)).Inc()
			continue
		}
		member := h.consent.Canonical(c.Token)
		ok, err := h.camp.countWeek(ctx, member, slug, cp.Confirmed)
		if err != nil {
			return events.Reply{}, err
		}
		if !ok {
			h.camp.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachCapped)).Inc()
			continue
		}
		r := events.Reply{V: events.Version, Platform: c.Platform, Chat: c.PlatformID, Private: true,
			Text: h.memberText(cp, c.Platform), Buttons: h.memberButtons(cp, c.Platform),
			Campaign: &events.CampaignTarget{Slug: slug, Member: member}}
		if _, err := h.camp.kv.Put(ctx, events.LastCampaignKey(member), []byte(slug)); err != nil {
			return events.Reply{}, fmt.Errorf("campaigns: %w", err)
		}
		if err := h.pub.QueueCampaign(ctx, r); err != nil {
			return events.Reply{}, err
		}
		queued++
		h.camp.metrics.recipients.WithLabelValues(reachLabel(bridge.ReachNow)).Inc()
	}
	for range 5 {
		cur, rev, _, err := h.camp.load(ctx, slug)
		if err != nil {
			return events.Reply{}, err
		}
		if cur.State == stateQueued {
			break
		}
		cur.State, cur.Queued = stateQueued, queued
		if err = h.camp.save(ctx, cur, rev); err == nil {
			break
		}
	}
	h.log.Info("campaign queued", "campaign", slug, "recipients", queued)
	if queued == 0 {
		return h.private(ev, "send", fmt.Sprintf(t.NothingToSend, slug)), nil
	}
	return h.private(ev, "send", fmt.Sprintf(t.Queued, slug, queued)), nil
}

func reachLabel(r bridge.Reach) string {
	switch r {
	case bridge.ReachNow:
		return "queued"
	case bridge.ReachUnreachable:
		return "unreachable"
	case bridge.ReachNotConsented:
		return "not_consented"
	case bridge.ReachObjected:
		return "objected"
	case bridge.ReachOptedOut:
		return "opted_out"
	}
	return "capped"
}

func (h *Handler) cancelCampaign(ctx context.Context, ev events.Event, organiser string) (events.Reply, error) {
	t := h.camp.txt
	cp, rev, ok, err := h.ownCampaign(ctx, ev, organiser)
	if err != nil {
		return events.Reply{}, err
	}
	if !ok {
		return h.private(ev, "cancel", t.NoDraft), nil
	}
	slug := cp.Slug
	if cp.State != stateDraft {
		return h.private(ev, "cancel", fmt.Sprintf(t.AlreadyDone, slug, h.stateName(cp.State))), nil
	}
	cp.State = stateCancelled
	if err := h.camp.save(ctx, cp, rev); err != nil {
		return events.Reply{}, err
	}
	h.camp.metrics.campaigns.WithLabelValues(stateCancelled).Inc()
	return h.private(ev, "cancel", fmt.Sprintf(t.Cancelled, slug)), nil
}

// --- reports ---------------------------------------------------------------------------------

type campaignReport struct {
	sent, queued, failed, blocked, interrupted int
	relay, notNow, noMore                      int
	relayers                                   []string // member tokens
}

func (h *Handler) report(ctx context.Context, cp campaign) (campaignReport, error) {
	var r campaignReport
	ds, err := h.camp.scan(ctx, events.DeliveryFilter(cp.Slug))
	if err != nil {
		return r, err
	}
	for _, v := range ds {
		switch v {
		case events.OutcomeSent:
			r.sent++
		case events.OutcomeFailed:
			r.failed++
		case events.OutcomeBlocked:
			r.blocked++
		case events.OutcomeSending:
			r.interrupted++ // may or may not have arrived: never sent again
		}
	}
	r.queued = max(0, cp.Queued-len(ds))
	as, err := h.camp.scan(ctx, events.AnswerFilter(cp.Slug))
	if err != nil {
		return r, err
	}
	for k, v := range as {
		switch v {
		case answerRelay:
			r.relay++
			r.relayers = append(r.relayers, k[strings.LastIndexByte(k, '.')+1:])
		case answerNotNow:
			r.notNow++
		case answerNoMore:
			r.noMore++
		}
	}
	slices.Sort(r.relayers)
	return r, nil
}

func (h *Handler) listCampaigns(ctx context.Context, organiser string) (string, error) {
	t := h.camp.txt
	all, err := h.camp.scan(ctx, "c.*")
	if err != nil {
		return "", err
	}
	var cps []campaign
	for _, v := range all {
		var cp campaign
		if json.Unmarshal([]byte(v), &cp) == nil && cp.Organiser == organiser {
			cps = append(cps, cp)
		}
	}
	if len(cps) == 0 {
		return t.NoneYet, nil
	}
	slices.SortFunc(cps, func(a, b campaign) int { return b.Created.Compare(a.Created) })
	var b strings.Builder
	b.WriteString(t.ListTitle)
	for i, cp := range cps {
		if i == maxGroupsListed {
			break
		}
		r, err := h.report(ctx, cp)
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + fmt.Sprintf(t.ListLine, cp.Slug, h.cat.date(cp.Created), h.stateName(cp.State),
			r.sent, r.failed, r.blocked, r.relay, r.notNow, r.noMore))
	}
	return b.String(), nil
}

// campaignDetail is one campaign's report. It names only the members who answered "Je
// relaie": they chose to act for it; nobody else is named. Only the organiser who wrote the
// campaign, or an administrator, sees it: to anyone else it does not exist.
func (h *Handler) campaignDetail(ctx context.Context, ev events.Event, organiser string) (string, error) {
	t := h.camp.txt
	slug := ""
	if len(ev.Command.Args) > 0 {
		slug = ev.Command.Args[0]
	}
	cp, _, found, err := h.camp.load(ctx, slug)
	if err != nil {
		return "", err
	}
	if !found || (cp.Organiser != organiser && !h.cfg.Admins.Contains(ev.Platform, ev.Sender)) {
		return fmt.Sprintf(t.NoSuchCampaign, slug), nil
	}
	r, err := h.report(ctx, cp)
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf(t.Detail, cp.Slug, h.cat.date(cp.Created), h.stateName(cp.State), h.audienceName(cp), cp.Text,
		r.sent, r.queued, r.failed, r.blocked, r.interrupted, r.relay, r.notNow, r.noMore)
	if len(r.relayers) > 0 {
		var names []string
		for _, tok := range r.relayers {
			card, ok, err := h.query.Member(ctx, tok)
			if err != nil {
				return "", fmt.Errorf("member: %w", err)
			}
			if ok && card.Name != "" {
				names = append(names, card.Name)
			}
		}
		if len(names) > 0 {
			text += "\n\n" + t.DetailRelayers + "\n• " + strings.Join(names, "\n• ")
		}
	}
	return text, nil
}

// --- members' answers ------------------------------------------------------------------------

const (
	answerRelay  = "relay"
	answerNotNow = "not_now"
	answerNoMore = "no_more"
)

// answer records a member's answer to a campaign they received.
func (h *Handler) answer(ctx context.Context, ev events.Event, member string, cmd command) error {
	if h.camp == nil {
		return h.send(ctx, h.private(ev, "campaign", h.camp0().Disabled))
	}
	t := h.camp.txt
	main := h.consent.Canonical(member)
	slug, err := h.slugOr(ctx, ev, events.LastCampaignKey(main))
	if err != nil {
		return err
	}
	received := false
	if slug != "" {
		v, _, err := h.camp.get(ctx, events.DeliveryKey(slug, main))
		if err != nil {
			return err
		}
		received = v != ""
	}
	if !received {
		return h.send(ctx, h.private(ev, "answer", t.NoCampaign))
	}
	var (
		ans, thanks string
	)
	switch cmd {
	case cmdRelay:
		ans, thanks = answerRelay, t.ThanksRelay
	case cmdNotNow:
		ans, thanks = answerNotNow, t.ThanksNotNow
	default:
		ans, thanks = answerNoMore, t.ThanksNoMore
	}
	prev, _, err := h.camp.get(ctx, events.AnswerKey(slug, main))
	if err != nil {
		return err
	}
	if prev != ans {
		if _, err := h.camp.kv.Put(ctx, events.AnswerKey(slug, main), []byte(ans)); err != nil {
			return fmt.Errorf("campaigns: answer: %w", err)
		}
		h.camp.metrics.answers.WithLabelValues(ans).Inc()
	}
	if err := h.recordAnswer(ctx, main, slug, ans); err != nil {
		return err
	}
	h.log.Info("campaign answered", "campaign", slug, "answer", ans)
	return h.send(ctx, h.private(ev, "answer-"+ans, thanks))
}

// recordAnswer keeps what the consent record must know: "Je relaie" (a campaign tag on the
// contact) and "Ne plus me solliciter" (no more campaigns). Only a member who said yes has
// a record to keep them in.
func (h *Handler) recordAnswer(ctx context.Context, member, slug, ans string) error {
	if ans == answerNotNow {
		return nil
	}
	rec, found, err := h.consent.Get(ctx, member)
	if err != nil {
		return err
	}
	if !found || rec.Status != consent.StatusYes {
		return nil
	}
	switch ans {
	case answerRelay:
		if slices.Contains(rec.Relayed, slug) {
			return h.members.Resync(ctx, member)
		}
		rec.Relayed = append(rec.Relayed, slug)
		if len(rec.Relayed) > maxRelayed {
			rec.Relayed = rec.Relayed[len(rec.Relayed)-maxRelayed:]
		}
	case answerNoMore:
		if rec.NoCampaigns {
			return nil
		}
		rec.NoCampaigns = true
	}
	if err := h.consent.Set(ctx, member, rec); err != nil {
		return err
	}
	if err := h.members.Resync(ctx, member); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}

// maxRelayed bounds the campaign tags one contact carries.
const maxRelayed = 50

// noteReachable records that a member wrote to the bot privately: the platform now lets
// relais write to them (Telegram: they opened the chat; WhatsApp: they wrote first).
func (h *Handler) noteReachable(ctx context.Context, ev events.Event, member string) error {
	if h.camp == nil || ev.Group != nil {
		return nil
	}
	key := events.ReachKey(h.consent.Canonical(member))
	v, _, err := h.camp.get(ctx, key)
	if err != nil || v == events.ReachOpen {
		return err
	}
	if _, err := h.camp.kv.Put(ctx, key, []byte(events.ReachOpen)); err != nil {
		return fmt.Errorf("campaigns: reach: %w", err)
	}
	return nil
}

// forgetCampaigns deletes what campaigns hold about a member who objected or asked for
// erasure: queued messages, reachability, week count, answers and delivery records.
func (h *Handler) forgetCampaigns(ctx context.Context, member string) error {
	if h.camp == nil {
		return nil
	}
	if s, err := h.js.Stream(ctx, h.names.CampaignsStream()); err == nil {
		// Securely: a queued message holds the member's chat id and the text sent to them.
		for _, p := range []events.Platform{events.Telegram, events.WhatsApp} {
			for range 100 { // a member has one message per campaign queued at most
				m, err := s.GetLastMsgForSubject(ctx, h.names.CampaignSubject(p, member))
				if errors.Is(err, jetstream.ErrMsgNotFound) {
					break
				}
				if err != nil {
					return fmt.Errorf("campaigns: queued message: %w", err)
				}
				if err := events.SecureDeleteSeq(ctx, s, m.Sequence); err != nil {
					return fmt.Errorf("campaigns: queued message: %w", err)
				}
			}
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("campaigns: %w", err)
	}
	keys := events.MemberCampaignKeys(member)
	for _, filter := range []string{"a.*." + member, "d.*." + member} {
		found, err := h.camp.scan(ctx, filter)
		if err != nil {
			return err
		}
		for k := range found {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if err := events.SecureDeleteKey(ctx, h.js, h.names.CampaignsBucket(), k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("campaigns: forget: %w", err)
		}
	}
	return nil
}

// campaignDigest is the digest's campaign section for a scope: the campaigns confirmed in the
// week before now whose groups are all in the scope (a campaign to every group only for an
// administrator), with counts and no names.
func (h *Handler) campaignDigest(ctx context.Context, sc scope.Scope, now time.Time) (string, error) {
	if h.camp == nil {
		return "", nil
	}
	t := h.camp.txt
	all, err := h.camp.scan(ctx, "c.*")
	if err != nil {
		return "", err
	}
	var cps []campaign
	for _, v := range all {
		var cp campaign
		if json.Unmarshal([]byte(v), &cp) != nil || cp.Confirmed.IsZero() || now.Sub(cp.Confirmed) > 7*24*time.Hour || cp.Confirmed.After(now) {
			continue
		}
		in := sc.All()
		if len(cp.Groups) > 0 {
			in = !slices.ContainsFunc(cp.Groups, func(g string) bool { return !sc.Has(g) })
		}
		if in {
			cps = append(cps, cp)
		}
	}
	if len(cps) == 0 {
		return "", nil
	}
	slices.SortFunc(cps, func(a, b campaign) int { return a.Confirmed.Compare(b.Confirmed) })
	var b strings.Builder
	b.WriteString(t.DigestTitle)
	for _, cp := range cps {
		r, err := h.report(ctx, cp)
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + fmt.Sprintf(t.ListLine, cp.Slug, h.cat.date(cp.Created), h.stateName(cp.State),
			r.sent, r.failed, r.blocked, r.relay, r.notNow, r.noMore))
	}
	return b.String(), nil
}
