package commands

import (
	"context"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
)

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
	return within7Days(w.entries(l.now), l.now), nil
}

func (l ledger) Objectors(ctx context.Context, groups []string, want bridge.AudienceTags) (int, error) {
	return l.h.camp.objectors(ctx, groups, want)
}
