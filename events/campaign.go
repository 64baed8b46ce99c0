package events

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A campaign is an organiser's call to action sent privately to consenting members. The
// bridge decides who receives it and queues one Reply per recipient on RELAIS_CAMPAIGNS (a
// work queue: subject relais.campaign.<platform>.<member>, Nats-Msg-Id campaign+member); the
// platform's adapter sends them at its own pace. Campaign state lives in the RELAIS_CAMPAIGNS
// bucket, keyed by the names below. Slugs are [a-z0-9-], member tokens [A-Za-z0-9_-]: both
// are valid KV key tokens and never hold a dot.

// MaxButtons bounds the buttons of one reply.
const MaxButtons = 4

// Delivery outcomes of one recipient of one campaign, as stored under DeliveryKey.
const (
	// OutcomeSending: an adapter claimed the recipient and may have sent the message. A
	// recipient found in this state (the adapter died) is never sent again: at most once.
	OutcomeSending = "sending"
	// OutcomeRetry: the platform refused before sending (flood limit, 5xx): safe to claim again.
	OutcomeRetry   = "retry"
	OutcomeSent    = "sent"
	OutcomeBlocked = "blocked" // the member blocked the bot: recorded, never retried
	OutcomeFailed  = "failed"  // refused for good, or lost in transit (not retried: it may have arrived)
)

// Reach values under ReachKey.
const (
	ReachOpen    = "open"    // the member opened a private chat with the bot / wrote to it privately
	ReachBlocked = "blocked" // a message bounced: they blocked the bot
)

var campaignSlugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidSlug reports whether s is a campaign slug.
func ValidSlug(s string) bool { return campaignSlugPattern.MatchString(s) && len(s) <= MaxSlugLen }

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func validToken(s string) bool { return tokenPattern.MatchString(s) }

// CampaignsBucket is the KV bucket of campaign state.
func (n Names) CampaignsBucket() string { return n.prefix + "RELAIS_CAMPAIGNS" }

// CampaignsStream is the work queue of campaign messages.
func (n Names) CampaignsStream() string { return n.prefix + "RELAIS_CAMPAIGN_QUEUE" }

// CampaignSubject is relais.campaign.<platform>.<member>: erasure finds a member's by subject.
func (n Names) CampaignSubject(p Platform, member string) string {
	return n.root + ".campaign." + string(p) + "." + member
}

// CampaignFilter matches one platform's campaign messages.
func (n Names) CampaignFilter(p Platform) string { return n.root + ".campaign." + string(p) + ".>" }

// CampaignsFilter matches every campaign message.
func (n Names) CampaignsFilter() string { return n.root + ".campaign.>" }

// MemberCampaignFilter matches a member's queued campaign messages.
func (n Names) MemberCampaignFilter(member string) string { return n.root + ".campaign.*." + member }

// CampaignConsumer is the durable consumer of one platform's campaign messages.
func (n Names) CampaignConsumer(p Platform) string { return "campaign-" + string(p) }

// Campaign bucket keys.
func CampaignKey(slug string) string         { return "c." + slug }
func DeliveryKey(slug, member string) string { return "d." + slug + "." + member }
func DeliveryFilter(slug string) string      { return "d." + slug + ".*" }
func AnswerKey(slug, member string) string   { return "a." + slug + "." + member }
func AnswerFilter(slug string) string        { return "a." + slug + ".*" }
func ReachKey(member string) string          { return "r." + member }
func WeekKey(member string) string           { return "w." + member }
func LastCampaignKey(member string) string   { return "l." + member }

// DraftKey holds an organiser's latest campaign, which a bare ENVOYER or ANNULER means.
func DraftKey(organiser string) string { return "o." + organiser }

// MemberCampaignKeys are the per-member keys an objection or erasure deletes.
func MemberCampaignKeys(member string) []string {
	return []string{ReachKey(member), WeekKey(member), LastCampaignKey(member), DraftKey(member)}
}

// CampaignMsg encodes one recipient's campaign message for the work queue. Its id is the
// campaign and the member, so queueing a recipient twice stores one message.
func (p *Publisher) CampaignMsg(r Reply) (*nats.Msg, error) {
	if r.Campaign == nil {
		return nil, errors.New("campaign message without campaign")
	}
	r.ID = "campaign-" + r.Campaign.Slug + "-" + r.Campaign.Member
	data, err := Encode(r)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(p.names.CampaignSubject(r.Platform, r.Campaign.Member))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, r.ID)
	return m, nil
}

// QueueCampaign queues one recipient's campaign message.
func (p *Publisher) QueueCampaign(ctx context.Context, r Reply) error {
	m, err := p.CampaignMsg(r)
	if err != nil {
		return err
	}
	if _, err := p.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("queue campaign message: %w", err)
	}
	return nil
}
