package bridge

import (
	"context"
	"fmt"
	"time"
)

// This file is the consent gate: the one place that says, from a member's consent decision,
// what relais may do with them. Every path asks it: live apply, replay, sweep, organiser
// queries and contact changes. The rules are pure functions so that live and replay, which
// both call them with the event's own time, cannot disagree.

// activity is what one event of a member may do.
type activity int

const (
	// actFull: the event counts for its sender and credits the people it answers.
	actFull activity = iota
	// actCreditsOnly: an objector's event from before their objection. They are not a member
	// of their own any more, but what they did then keeps counting for the group and for the
	// people they answered, live and in a replay alike.
	actCreditsOnly
	// actAnonymous: a message an erasure left in the log under a pseudonym: it counts in its
	// group's messages per day and credits nobody.
	actAnonymous
	// actNothing: the event changes nothing (after an objection, or from an erased member),
	// and is deleted from the log.
	actNothing
)

// senderActivity decides what an event of a sender, at event time at, may do.
func senderActivity(d ConsentDecision, pseudonym bool, at time.Time) activity {
	switch {
	case pseudonym:
		return actAnonymous
	case d.Erased:
		return actNothing
	case at.Before(d.ObjectedAt):
		return actCreditsOnly
	case d.Suppressed:
		return actNothing
	}
	return actFull
}

// mayCredit says whether a member may receive credit (a reply, mention or reaction) from an
// event at time at: nobody counts interactions with someone who objected or was erased, nor,
// once they said yes again, with who they were before their objection.
func mayCredit(d ConsentDecision, at time.Time) bool {
	return !d.Suppressed && !at.Before(d.ObjectedAt)
}

// mayShow says whether an organiser may see a member, by any command.
func mayShow(d ConsentDecision) bool { return !d.Suppressed }

// maySync says whether a member may reach the CRM, given their decision in every group they
// were seen in (one per group, or one for no group) and their activity tags. Under opt-in a
// yes is required; under notice an activity tag is enough, but only if every group the member
// was seen in is under notice: data from an opt-in group never reaches the CRM without a yes.
func maySync(ds []ConsentDecision, bits tagBits) bool {
	if len(ds) == 0 {
		return false
	}
	allNotice := true
	for _, d := range ds {
		if d.Suppressed {
			return false
		}
		if d.OptedIn {
			return true
		}
		allNotice = allNotice && d.Policy == PolicyNotice
	}
	return allNotice && bits&(bitActive|bitLeader) != 0
}

// gate caches consent decisions for the span of one batch or one query.
type gate struct {
	consent Consent
	seen    map[[2]string]ConsentDecision
}

func newGate(c Consent) *gate { return &gate{consent: c, seen: map[[2]string]ConsentDecision{}} }

func (g *gate) decide(ctx context.Context, member, group string) (ConsentDecision, error) {
	k := [2]string{member, group}
	if d, ok := g.seen[k]; ok {
		return d, nil
	}
	d, err := g.consent.Decide(ctx, member, group)
	if err != nil {
		return d, fmt.Errorf("consent: %w", err)
	}
	g.seen[k] = d
	return d, nil
}

// mayContact says whether a campaign may be sent to a member who has had thisWeek campaigns
// in the last 7 days: only a member who said yes, did not object nor ask for erasure, did
// not opt out of campaigns, and is under the weekly cap (perWeek; below 1 allows nothing).
// Reachability is the platform's matter, not consent: see contactClass.
func mayContact(d ConsentDecision, thisWeek, perWeek int) bool {
	return d.OptedIn && !d.Suppressed && !d.Erased && !d.NoCampaigns && thisWeek < perWeek
}

// Reach is how a campaign stands with one member of its audience.
type Reach int

const (
	ReachNow          Reach = iota // may be contacted, and the platform lets relais write to them
	ReachUnreachable               // may be contacted, but never opened a private chat (or blocked the bot)
	ReachNotConsented              // never said yes: not contacted
	ReachObjected                  // objected or erased: not contacted, never counted by name
	ReachOptedOut                  // said "Ne plus me solliciter"
	ReachCapped                    // had their campaigns for the week
)

// contactClass sorts a member of a campaign's audience, for the preview's counts and the
// delivery: only ReachNow is ever sent anything.
func contactClass(d ConsentDecision, reachable bool, thisWeek, perWeek int) Reach {
	switch {
	case d.Suppressed || d.Erased:
		return ReachObjected
	case !d.OptedIn:
		return ReachNotConsented
	case d.NoCampaigns:
		return ReachOptedOut
	case !mayContact(d, thisWeek, perWeek):
		return ReachCapped
	case !reachable:
		return ReachUnreachable
	}
	return ReachNow
}
