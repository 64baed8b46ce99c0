package campaigns

import (
	"context"
	"fmt"
	"slices"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// allowedGroups are the groups an organiser may address (those of their scope) and the scope
// they come from, which says what it could not check.
func (f *Feature) allowedGroups(ctx context.Context, ev events.Event) ([]string, scope.Scope, error) {
	if f.st.cfg.AllowedGroups != nil {
		allowed, err := f.st.cfg.AllowedGroups(ctx, ev.Platform, ev.Sender.ID)
		if err != nil {
			return nil, scope.Scope{}, fmt.Errorf("allowed groups: %w", err)
		}
		return allowed, scope.Only(allowed...), nil
	}
	all, err := f.st.cfg.Audience.GroupTokens(ctx)
	if err != nil {
		return nil, scope.Scope{}, fmt.Errorf("allowed groups: %w", err)
	}
	sc, err := f.d.Scopes.OrganiserScope(ctx, ev.Platform, ev.Sender)
	if err != nil {
		return nil, scope.Scope{}, fmt.Errorf("allowed groups: %w", err)
	}
	return slices.DeleteFunc(all, func(g string) bool { return !sc.Has(g) }), sc, nil
}

// audienceIncomplete reports whether a campaign's audience may miss people because the scope
// could not check a group it would address: every group of the scope when the campaign
// names none, else the named ones.
func audienceIncomplete(cp campaign, sc scope.Scope) bool {
	if sc.Complete() {
		return false
	}
	if len(cp.Groups) == 0 {
		return true
	}
	return slices.ContainsFunc(cp.Groups, sc.Misses)
}
