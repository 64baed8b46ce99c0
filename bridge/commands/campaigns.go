package commands

import (
	"context"
	"time"

	"github.com/relais-bot/relais/bridge/commands/campaigns"
	"github.com/relais-bot/relais/bridge/commands/command"
	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// Campaigns are their own feature (package campaigns); these names keep the deployment's
// entry points where they were.
type (
	// CampaignConfig turns campaigns on.
	CampaignConfig = campaigns.Config
	// AudienceQuery finds a campaign's audience.
	AudienceQuery = campaigns.AudienceQuery
)

// EnableCampaigns opens the campaigns bucket and answers /mobiliser, /campagnes, /campagne
// and the campaign buttons. Without it those get a "not available here" answer.
func (h *Handler) EnableCampaigns(ctx context.Context, c CampaignConfig) error {
	return h.camp.Enable(ctx, c)
}

// campaignRights is what a member's rights do to campaigns: /stop, /oubli and a new /oui.
// Each does nothing while campaigns are off.
type campaignRights interface {
	// MarkDoNotContact withholds every campaign message from the tokens, first thing on an
	// objection or erasure (reason: events.DoNotContact*).
	MarkDoNotContact(ctx context.Context, tokens []string, reason string) error
	// ClearDoNotContact lifts the marker of a member who says yes again.
	ClearDoNotContact(ctx context.Context, member string) error
	// CountObjection counts an objector in the campaign previews' anonymous counts, before
	// their state is deleted.
	CountObjection(ctx context.Context, member string)
	// Forget deletes what campaigns hold about the tokens.
	Forget(ctx context.Context, tokens []string) error
}

// campaignFeature is what the handler asks of campaigns.
type campaignFeature interface {
	campaignRights
	Enable(ctx context.Context, c campaigns.Config) error
	Commands() []command.Spec
	// NoteReachable records that a member wrote to the bot privately: campaigns may reach
	// them there.
	NoteReachable(ctx context.Context, ev events.Event, member string) error
	// NoticeLine is the information notice's sentence on campaigns, "" when they are off.
	NoticeLine() string
	// Digest is the digest's campaign section for a scope, "" when there is nothing to say.
	Digest(ctx context.Context, sc scope.Scope, now time.Time) (string, error)
	// Mine is what campaigns hold about one member, for their own file.
	Mine(ctx context.Context, member string) (campaigns.Mine, error)
}

// campaignScopes gives campaigns the organisers' scopes and the handler's wording of the
// groups a scope could not check.
type campaignScopes struct{ h *Handler }

func (s campaignScopes) OrganiserScope(ctx context.Context, p events.Platform, m events.Member) (scope.Scope, error) {
	return s.h.Scope(ctx, s.h.Who(p, m))
}

func (s campaignScopes) Unchecked(sc scope.Scope) string {
	return s.h.missingNote(s.h.missingNames(sc))
}

func (s campaignScopes) UncheckedTitles(sc scope.Scope) string {
	return listTitles(s.h.missingNames(sc))
}

func (s campaignScopes) WithUnchecked(sc scope.Scope, text string) string {
	return s.h.withMissing(sc, text)
}
