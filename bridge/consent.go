package bridge

import (
	"context"
	"time"

	"github.com/relais-bot/relais/events"
)

// Consent tells the bridge who may reach the CRM. The consent layer (bridge/consent)
// implements it; PolicyOnly is the default when none is wired.
type Consent interface {
	// Decide returns whether a member may reach the CRM and whether they objected/erased
	// (suppressed). group is a group token, or "" when no group is concerned.
	Decide(ctx context.Context, member string, group string) (ConsentDecision, error)
}

// ConsentDecision is the consent state of one member in one group.
type ConsentDecision struct {
	OptedIn, Suppressed bool
	// Erased is set with Suppressed when the member asked for erasure, not only objected.
	Erased bool
	// ObjectedAt is when the member last objected (event time of their /stop), even if they
	// said yes again since: relais forgot their own activity from before it, which keeps
	// crediting the people they answered; nobody is credited for talking to them before it.
	ObjectedAt time.Time
	// Since is when the member's consent record was written (zero without one).
	Since  time.Time
	Policy string // PolicyOptIn or PolicyNotice
	// Phone is the number the member shared themselves with their yes (E.164), if any.
	Phone string
	// NoCampaigns: the member answered "Ne plus me solliciter" to a campaign.
	NoCampaigns bool
	// Relayed are the campaigns (slugs) the member answered "Je relaie" to: each puts a
	// campaign tag on their contact.
	Relayed []string
}

// PolicyOnly is the consent of a deployment without a consent store: nobody opted in, nobody
// objected, one policy everywhere.
func PolicyOnly(policy string) Consent { return policyOnly(policy) }

type policyOnly string

func (p policyOnly) Decide(context.Context, string, string) (ConsentDecision, error) {
	return ConsentDecision{Policy: string(p)}, nil
}

// CommandHandler answers the events that are not activity: commands and consent. The command
// layer (bridge/commands) implements it; nil acks and ignores them. Its error settles the
// event like any handler error (events.Permanent dead-letters, anything else retries).
type CommandHandler interface {
	Handle(ctx context.Context, ev events.Event) error
}

// backgroundCommands is implemented by a CommandHandler whose slow commands (an organiser's
// search over every member, an erasure rewriting the log) may be answered off the batch
// loop, so they never hold up the event flow.
type backgroundCommands interface {
	Background(ev events.Event) bool
}
