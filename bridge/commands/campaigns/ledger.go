package campaigns

import (
	"context"
	"time"

	"github.com/relais-bot/relais/bridge"
	"github.com/relais-bot/relais/events"
)

// ledger implements bridge.ContactLedger over the campaigns bucket.
type ledger struct {
	f   *Feature
	now time.Time
}

func (l ledger) Reachable(ctx context.Context, member string) (bool, error) {
	for _, tok := range l.f.allTokens(member) {
		v, _, err := l.f.st.get(ctx, events.ReachKey(tok))
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
	w, _, err := l.f.st.week(ctx, l.f.d.Consent.Canonical(member))
	if err != nil {
		return 0, err
	}
	return within7Days(w.entries(l.now), l.now), nil
}

func (l ledger) Objectors(ctx context.Context, groups []string, want bridge.AudienceTags) (int, error) {
	return l.f.st.objectors(ctx, groups, want)
}
