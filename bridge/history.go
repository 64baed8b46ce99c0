package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// Imported history (see events.HeaderHistory) is applied like live activity, with the same
// rules, dedup and consent gate, so an imported conversation gives the state listening to it
// would have given; only its contact changes wait for the import's end, when every member is
// settled once in their final state (the CRM never sees history's intermediate tags).

// imported reports whether a message of the event stream comes from an import.
func imported(m jetstream.Msg) bool { return m.Headers().Get(events.HeaderHistory) != "" }

// historyDone reports whether a message marks the end of an import.
func historyDone(m jetstream.Msg) bool { return m.Headers().Get(events.HeaderHistoryDone) != "" }

// applyMixed applies a batch in which some events are imported: consecutive events of the
// same kind (live or imported) are applied together, in stream order, so the state is the
// one a single call would give; only the live runs' members are returned for settling.
func (b *Bridge) applyMixed(ctx context.Context, evs []events.Event, pos positions, hist []bool) ([]error, []memberState, error) {
	errs := make([]error, len(evs))
	var live []memberState
	for i := 0; i < len(evs); {
		j := i + 1
		for j < len(evs) && hist[j] == hist[i] {
			j++
		}
		runErrs, states, err := b.applyBatch(ctx, evs[i:j], positions{seqs: pos.seqs[i:j], floor: pos.floor})
		if err != nil {
			return errs, live, err
		}
		copy(errs[i:j], runErrs)
		if !hist[i] {
			live = append(live, states...)
		}
		i = j
	}
	return errs, live, nil
}

// errHistoryPending delays an import's end until every message before it was applied (by
// this replica's batch or acked by any replica), so the settle sees the whole import.
var errHistoryPending = errors.New("import end before its events were applied")

// settleHistory settles every member once an import's events are all applied: a full sweep,
// which publishes only the contact changes that differ from the last one kept. seq is the
// end marker's sequence; applied says whether every earlier sequence was applied.
func (b *Bridge) settleHistory(ctx context.Context, applied bool) error {
	if !applied {
		return events.RetryAfter(errHistoryPending, time.Second)
	}
	if err := b.sweep(ctx, true); err != nil {
		return fmt.Errorf("settle import: %w", err)
	}
	return nil
}

// historyEndTries is how many times an import's end waits for earlier sequences.
const historyEndTries = 5

// historyCatchUp is how many days past the retention ExpireHistory looks back: a relais
// stopped longer than that leaves older imported days to MaxAge.
const historyCatchUp = 60

// ExpireHistory purges imported events whose day is past the retention, as MaxAge purges
// live ones: an imported event is stored long after its time, and must not outlive the
// retention by that much. The bridge's daily full sweep calls it.
func (b *Bridge) ExpireHistory(ctx context.Context) error {
	if b.cfg.Retention <= 0 || b.js == nil {
		return nil
	}
	s, err := b.js.Stream(ctx, b.names.EventsStream())
	if err != nil {
		return fmt.Errorf("expire history: %w", err)
	}
	// Today's cut-off day is expired once it is wholly past: an event of day D lives at
	// most until D+1 + retention, as a live one stored at its time lives until its time +
	// retention (at most a day longer, never shorter).
	last := b.cfg.Now().UTC().Add(-b.cfg.Retention).Truncate(24*time.Hour).AddDate(0, 0, -1)
	for d := range historyCatchUp {
		day := last.AddDate(0, 0, -d)
		// Not s.Purge: on nats-server before 2.9.12 it moves the bridge's own consumer past
		// every event not yet delivered (events.PurgeSubject).
		if _, err := events.PurgeSubject(ctx, b.js, s, b.names.HistoryDayFilter(day)); err != nil {
			return fmt.Errorf("expire history: %w", err)
		}
	}
	return nil
}

// endHistory settles the imports whose end markers are in a batch, once its events are
// applied. A marker is ready when every earlier sequence is at or under the ack floor or was
// applied in this batch (without error: a failed one comes back); otherwise it waits.
func (b *Bridge) endHistory(ctx context.Context, ab *appliedBatch, ends []int, floor uint64) {
	for _, i := range ends {
		if b.rebuilding() {
			ab.errs[i] = events.RetryAfter(errRebuilding, 2*time.Second)
			continue
		}
		md, err := ab.msgs[i].Metadata()
		if err != nil {
			ab.errs[i] = fmt.Errorf("import end metadata: %w", err)
			continue
		}
		end := md.Sequence.Stream
		var before uint64
		ok := true
		for j, m := range ab.msgs[:i] {
			if jmd, err := m.Metadata(); err == nil && jmd.Sequence.Stream > floor && jmd.Sequence.Stream < end {
				before++
				if ab.errs[j] != nil && ab.errs[j] != errSettled {
					ok = false
				}
			}
		}
		// Sequences deleted since (answered commands, erasures) never reach the floor: past a
		// few deliveries the gap is taken for such holes rather than waited for forever.
		whole := end <= floor+1 || before >= end-1-floor || md.NumDelivered >= historyEndTries
		ab.errs[i] = b.settleHistory(ctx, ok && whole)
		if ab.errs[i] == nil && b.cfg.HistoryEnded != nil {
			m := ab.msgs[i]
			if err := b.cfg.HistoryEnded(ctx, m.Headers().Get(events.HeaderHistoryDone), m.Data()); err != nil {
				ab.errs[i] = events.RetryAfter(fmt.Errorf("import end: %w", err), 2*time.Second)
			}
		}
	}
}
