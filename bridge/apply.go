package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relais-bot/relais/events"
)

// maxMentions bounds the members one event may credit.
const maxMentions = 100

// Rule violations: the event decoded but can never apply. They are dead-lettered.
var (
	ErrNeedsGroup     = errors.New("event kind needs a group")
	ErrFutureEvent    = errors.New("event time ahead of the clock")
	ErrTooManyMention = errors.New("too many mentions")
	ErrSelfMigration  = errors.New("group migrated from itself")
)

// check applies the rules an event must meet beyond decoding.
func (b *Bridge) check(ev events.Event, now time.Time) error {
	switch {
	case ev.Group == nil && (ev.Kind == events.KindJoin || ev.Kind == events.KindLeave || ev.Kind == events.KindReaction):
		return fmt.Errorf("%w: %s", ErrNeedsGroup, ev.Kind)
	case ev.At.After(now.Add(b.cfg.MaxSkew)):
		return fmt.Errorf("%w: %s later than allowed", ErrFutureEvent, ev.At.Sub(now).Round(time.Second))
	case len(ev.Mentions) > maxMentions:
		return fmt.Errorf("%w: %d, limit %d", ErrTooManyMention, len(ev.Mentions), maxMentions)
	case ev.Group != nil && ev.Group.MigratedFrom != "" && ev.Group.MigratedFrom == ev.Group.ID:
		return ErrSelfMigration
	}
	return nil
}

// positions identify a batch's events in the event stream, for the member and group
// scripts' idempotence (see memberLua).
type positions struct {
	// seqs are each event's stream sequence; for an erasure's copy applied live, the
	// sequence of the original it replaces (events.CopyOf), which the live bridge applied
	// already, unless it never saw it. A replay reads only the copy: its own sequence.
	seqs []uint64
	// floor is a sequence at or under which every event was settled before this batch: the
	// consumer's ack floor live, the end of the previous batch in a replay.
	floor uint64
}

// applyEvents applies a batch of activity events (no commands). It returns, per event, the
// rule violation that keeps it from applying (nil otherwise), and an error when the batch
// must be retried as a whole. Every step is idempotent, so a retry after a partial failure
// only completes what was missing. publish=false (replay) leaves contact changes for later.
func (b *Bridge) applyEvents(ctx context.Context, evs []events.Event, pos positions, publish bool) ([]error, error) {
	errs, states, err := b.applyBatch(ctx, evs, pos)
	if err != nil || !publish || b.pub == nil {
		return errs, err
	}
	return errs, b.settleAll(ctx, states, false)
}

// applyBatch is applyEvents without the contact changes: it returns the state of the members
// the batch touched, for the caller to settle.
func (b *Bridge) applyBatch(ctx context.Context, evs []events.Event, pos positions) ([]error, []memberState, error) {
	if len(pos.seqs) != len(evs) {
		return nil, nil, fmt.Errorf("apply: %d events, %d sequences", len(evs), len(pos.seqs))
	}
	now := b.cfg.Now()
	errs := make([]error, len(evs))
	if err := b.linkAliases(ctx, evs); err != nil {
		return errs, nil, err
	}
	var plans []*plan
	for i, ev := range evs {
		if err := b.check(ev, now); err != nil {
			errs[i] = events.Permanent(err)
			continue
		}
		if ev.Group == nil || ev.Kind == events.KindCommand || ev.Kind == events.KindConsent {
			b.metrics.events.WithLabelValues(outIgnored).Inc() // a private message is not group activity
			continue
		}
		p := b.plan(ev)
		p.at, p.seq = i, pos.seqs[i]
		plans = append(plans, p)
	}
	if len(plans) == 0 {
		return errs, nil, nil
	}
	// What senders may do comes first: which messages the author maps take in depends on it.
	g := newGate(b.consent)
	if err := b.gateSenders(ctx, g, plans); err != nil {
		return errs, nil, err
	}
	if err := b.resolve(ctx, plans, pos.floor); err != nil {
		return errs, nil, err
	}
	if err := b.gateCredits(ctx, g, plans); err != nil {
		return errs, nil, err
	}
	for _, p := range plans {
		if p.skip {
			errs[p.at] = errSuppressed
		}
	}
	states, err := b.write(ctx, plans, pos.floor, dayOf(now))
	return errs, states, err
}

// errSuppressed marks an event the consent gate refuses entirely: an objector's event from
// after their objection, or an erased member's. It is not an error: the live path deletes it
// from the log (relais must not keep what it may not process) and acks it.
var errSuppressed = errors.New("sender objected or was erased")
