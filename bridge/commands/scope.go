package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/relais-bot/relais/bridge/commands/digest"

	"github.com/relais-bot/relais/bridge/scope"
	"github.com/relais-bot/relais/events"
)

// isOrganiser reports whether a sender may use organiser commands: RELAIS_ORGANISERS or
// RELAIS_ADMINS.
func (h *Handler) isOrganiser(p events.Platform, m events.Member) bool {
	return h.cfg.Organisers.Contains(p, m) || h.cfg.Admins.Contains(p, m)
}

// Who is an organiser as scopes know them.
func (h *Handler) Who(p events.Platform, m events.Member) scope.Who {
	return scope.Who{Platform: p, ID: m.ID, Phone: m.Phone, Admin: h.cfg.Admins.Contains(p, m)}
}

// Recheck says whether who is still an organiser or admin, as the configuration says now,
// with their admin flag as it is now: a dashboard session ends when its organiser is
// removed from the allowlists.
func (h *Handler) Recheck(who scope.Who) (scope.Who, bool) {
	m := events.Member{ID: who.ID, Phone: who.Phone}
	if !h.isOrganiser(who.Platform, m) {
		return who, false
	}
	return h.Who(who.Platform, m), true
}

// Scope returns the groups an organiser may see, asking the platform (cached briefly).
func (h *Handler) Scope(ctx context.Context, who scope.Who) (scope.Scope, error) {
	if who.Admin {
		return scope.Everything(), nil
	}
	groups, err := h.query.Groups(ctx)
	if err != nil {
		return scope.Scope{}, fmt.Errorf("scope: %w", err)
	}
	return h.cfg.Scopes.Scope(ctx, who, groups), nil
}

// scopedFetch is how many ranked members a scoped organiser's list reads before keeping
// those of their groups: a scope may hold few of the deployment's top members.
const scopedFetch = 250

// organiserList lists organisers and admins once each, in a stable order.
func (h *Handler) organiserList() []digest.Recipient {
	seen := map[string]bool{}
	out := append(recipients(h.cfg.Admins, true), recipients(h.cfg.Organisers, false)...)
	var uniq []digest.Recipient
	for _, o := range out {
		k := string(o.Platform) + ":" + o.ID
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, o)
		}
	}
	slices.SortFunc(uniq, func(a, b digest.Recipient) int {
		return strings.Compare(string(a.Platform)+a.ID, string(b.Platform)+b.ID)
	})
	return uniq
}

// NoScopeText is the answer to an organiser who is in none of the groups.
func (h *Handler) NoScopeText() string { return h.org.NoScope }

// missingNames are the groups sc could not check, as the organiser may read them.
func (h *Handler) missingNames(sc scope.Scope) []string {
	return sc.MissingNames(func(n int) string { return h.org.OtherGroups.N(n) })
}

// missingNote says which groups could not be checked (their titles), "" when none.
func (h *Handler) missingNote(titles []string) string {
	if len(titles) == 0 {
		return ""
	}
	return fmt.Sprintf(h.org.Unchecked, listTitles(titles))
}

// listTitles joins titles, within one message.
func listTitles(titles []string) string {
	if len(titles) > maxGroupsListed {
		titles = append(titles[:maxGroupsListed:maxGroupsListed], fmt.Sprintf("… (+%d)", len(titles)-maxGroupsListed))
	}
	return strings.Join(titles, ", ")
}

// withMissing puts what sc could not check above an answer built on it, both within one
// message: the organiser must not read a partial answer as the whole.
func (h *Handler) withMissing(sc scope.Scope, text string) string {
	note := h.missingNote(h.missingNames(sc))
	if note == "" {
		return clip(text)
	}
	return note + "\n\n" + clipTo(text, maxAnswerRunes-len([]rune(note))-2)
}
