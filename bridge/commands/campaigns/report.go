package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/journal"
)

// maxListed bounds the campaigns /campagnes lists, within one message.
const maxListed = 25

type campaignReport struct {
	sent, queued, failed, blocked, interrupted, withdrawn int
	relay, notNow, noMore                                 int
	relayers                                              []string // member tokens
}

// report reads a campaign's figures. Outcomes and answers come from the campaign's anonymous
// counters (events.CampaignCounts), which an objection or an erasure leaves alone; the
// records, which they delete, only say who is being sent to right now, or was when an
// adapter died (interrupted: may or may not have arrived, never sent again), and who relays
// (named while they are still there). What is still queued is what was queued less all of
// those. A campaign confirmed before counters existed has none, and is read from its records
// as before.
func (f *Feature) report(ctx context.Context, cp campaign) (campaignReport, error) {
	var r campaignReport
	ds, err := f.st.scan(ctx, events.DeliveryFilter(cp.Slug))
	if err != nil {
		return r, err
	}
	counts, counted, err := events.ReadCounts(ctx, f.st.kv, cp.Slug)
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
			r.interrupted++
		}
	}
	if counted {
		r.sent, r.failed, r.blocked, r.withdrawn = counts.Sent, counts.Failed, counts.Blocked, counts.Withdrawn
		r.queued = max(0, cp.Queued-counts.Settled()-r.interrupted)
	} else {
		r.queued = max(0, cp.Queued-len(ds))
	}
	as, err := f.st.scan(ctx, events.AnswerFilter(cp.Slug))
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
	if counted {
		r.relay, r.notNow, r.noMore = counts.Answers[answerRelay], counts.Answers[answerNotNow], counts.Answers[answerNoMore]
	}
	slices.Sort(r.relayers)
	return r, nil
}

func (f *Feature) listCampaigns(ctx context.Context, organiser string) (string, error) {
	t := f.txt
	cps, err := f.st.campaignsWhere(ctx, func(cp campaign) bool { return cp.Organiser == organiser })
	if err != nil {
		return "", err
	}
	if len(cps) == 0 {
		return t.NoneYet, nil
	}
	slices.SortFunc(cps, func(a, b campaign) int { return b.Created.Compare(a.Created) })
	return f.summary(ctx, t.ListTitle, cps[:min(len(cps), maxListed)])
}

// summary is a title above one line of figures per campaign.
func (f *Feature) summary(ctx context.Context, title string, cps []campaign) (string, error) {
	var b strings.Builder
	b.WriteString(title)
	for _, cp := range cps {
		r, err := f.report(ctx, cp)
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + fmt.Sprintf(f.txt.ListLine, cp.Slug, f.d.Date(cp.Created), f.stateName(cp.State),
			r.sent, r.failed, r.blocked, r.relay, r.notNow, r.noMore))
	}
	return b.String(), nil
}

// campaignDetail is one campaign's report. It names only the members who answered "Je
// relaie": they chose to act for it; nobody else is named. Only the organiser who wrote the
// campaign, or an administrator, sees it: to anyone else it does not exist.
func (f *Feature) campaignDetail(ctx context.Context, req command.Request) (string, error) {
	ev, organiser := req.Event, req.Member
	t := f.txt
	slug := ""
	if len(ev.Command.Args) > 0 {
		slug = ev.Command.Args[0]
	}
	cp, _, found, err := f.st.load(ctx, slug)
	if err != nil {
		return "", err
	}
	if !found || (cp.Organiser != organiser && !req.Admin) {
		return fmt.Sprintf(t.NoSuchCampaign, slug), nil
	}
	r, err := f.report(ctx, cp)
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf(t.Detail, cp.Slug, f.d.Date(cp.Created), f.stateName(cp.State), f.audienceName(cp), cp.Text,
		r.sent, r.queued, r.failed, r.blocked, r.interrupted, r.relay, r.notNow, r.noMore, r.withdrawn)
	if len(r.relayers) > 0 {
		var names []string
		for _, tok := range r.relayers {
			card, ok, err := f.d.Directory.Member(ctx, tok)
			if err != nil {
				return "", fmt.Errorf("member: %w", err)
			}
			if ok && card.Name != "" {
				names = append(names, card.Name)
				journal.Note(ctx, tok)
			}
		}
		if len(names) > 0 {
			text += "\n\n" + t.DetailRelayers + "\n• " + strings.Join(names, "\n• ")
		}
	}
	return text, nil
}

// Digest is the digest's campaign section for a scope: the campaigns confirmed in the
// week before now whose groups are all in the scope (a campaign to every group only for an
// administrator), with counts and no names.
func (f *Feature) Digest(ctx context.Context, sc scope.Scope, now time.Time) (string, error) {
	if f.st == nil {
		return "", nil
	}
	cps, err := f.st.campaignsWhere(ctx, func(cp campaign) bool {
		if cp.Confirmed.IsZero() || now.Sub(cp.Confirmed) > 7*24*time.Hour || cp.Confirmed.After(now) {
			return false
		}
		if len(cp.Groups) > 0 {
			return !slices.ContainsFunc(cp.Groups, func(g string) bool { return !sc.Has(g) })
		}
		return sc.All()
	})
	if err != nil {
		return "", err
	}
	if len(cps) == 0 {
		return "", nil
	}
	slices.SortFunc(cps, func(a, b campaign) int { return a.Confirmed.Compare(b.Confirmed) })
	return f.summary(ctx, f.txt.DigestTitle, cps)
}

// campaignsWhere reads every campaign and keeps those keep says yes to.
func (c *store) campaignsWhere(ctx context.Context, keep func(campaign) bool) ([]campaign, error) {
	all, err := c.scan(ctx, "c.*")
	if err != nil {
		return nil, err
	}
	var cps []campaign
	for _, v := range all {
		var cp campaign
		if json.Unmarshal([]byte(v), &cp) == nil && keep(cp) {
			cps = append(cps, cp)
		}
	}
	return cps, nil
}
