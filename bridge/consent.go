package bridge

import (
	"context"

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
	Policy              string // PolicyOptIn or PolicyNotice
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
