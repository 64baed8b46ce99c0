package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// Imported history (see events.HeaderHistory) is applied like live activity, with the same
// rules, dedup and consent gate, so an imported conversation gives the state listening to it
// would have given; only its contact changes wait for the import's end, when every member is
// settled once in their final state (the CRM never sees history's intermediate tags).
//
// An import's events may take minutes to hours to apply behind a backlog, and the routine
// sweeps would settle members in between: the daily full sweep (and the one at start) every
// member, the due sweep after midnight UTC every member an earlier day's run left unsettled.
// So while imported events are being applied (one was applied within Config.HistoryQuiet,
// and no import ended since), routine sweeps wait; live batches and owed live members are
// settled as ever, with whatever state they hold. The members imported events changed are
// recorded (keys.importOwed): an import's end settles them with every member; those an
// import left without an end (its importer died), or that an erasure's copy of an imported
// event changed after its import ended, are settled by the first routine sweep once no
// import is under way.

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
		if hist[i] {
			// Before the writes: a routine sweep that read any of them then sees the import
			// under way before it settles (importUnderway).
			if err := b.markImporting(ctx); err != nil {
				return errs, live, err
			}
		}
		runErrs, states, err := b.applyBatch(ctx, evs[i:j], positions{seqs: pos.seqs[i:j], floor: pos.floor})
		if err != nil {
			return errs, live, err
		}
		copy(errs[i:j], runErrs)
		if !hist[i] {
			live = append(live, states...)
		} else if err := b.oweImport(ctx, states); err != nil {
			return errs, live, err
		}
		i = j
	}
	return errs, live, nil
}

// errImportUnderway stops a routine sweep while an import is being applied.
var errImportUnderway = errors.New("an import is being applied")

// holdFunc tells a routine sweep to stop (errImportUnderway, or the error that kept it from
// knowing); nil lets it go on.
type holdFunc func(ctx context.Context) error

// markImporting records that imported events are being applied, now.
func (b *Bridge) markImporting(ctx context.Context) error {
	if err := b.rdb.Set(ctx, b.keys.importing(), time.Now().UnixMilli(), 0).Err(); err != nil {
		return fmt.Errorf("mark import: %w", err)
	}
	return nil
}

// importUnderway is the hold of routine sweeps: imported events were applied within
// HistoryQuiet and no import ended since. It is wall-clock time, not the event clock: it
// measures the bridge's own work.
func (b *Bridge) importUnderway(ctx context.Context) error {
	at, err := b.rdb.Get(ctx, b.keys.importing()).Int64()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("import under way: %w", err)
	}
	if time.Since(time.UnixMilli(at)) < b.cfg.HistoryQuiet {
		return errImportUnderway
	}
	return nil
}

// oweImport records the members an imported run changed, for the import's end.
func (b *Bridge) oweImport(ctx context.Context, states []memberState) error {
	if err := b.oweIn(ctx, b.keys.importOwed(), states); err != nil {
		return fmt.Errorf("owe imported contacts: %w", err)
	}
	return nil
}

// held asks hold, when set, whether a routine sweep that just read states may settle them.
// When it may not, the members it read whose contact differs are owed to the import's end
// (whose sweep settles every member anyway) or, if it never comes, to the first routine sweep
// once no import is under way: evaluating them moved them off the due list.
func (b *Bridge) held(ctx context.Context, hold holdFunc, states []memberState) error {
	if hold == nil {
		return nil
	}
	err := hold(ctx)
	if errors.Is(err, errImportUnderway) {
		if oerr := b.oweImport(ctx, states); oerr != nil {
			return oerr
		}
	}
	return err
}

// settleImported settles, once no import is under way, the members imported events changed
// that no import's end settled.
func (b *Bridge) settleImported(ctx context.Context) error {
	if err := b.importUnderway(ctx); err != nil {
		return err
	}
	return b.settleOwedIn(ctx, b.keys.importOwed(), b.importUnderway)
}

// endImportLua clears the import mark unless another import's events were applied since it
// was read.
const endImportLua = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

// errHistoryPending delays an import's end until every message before it was applied (by
// this replica's batch or acked by any replica), so the settle sees the whole import.
var errHistoryPending = errors.New("import end before its events were applied")

// settleHistory settles every member once an import's events are all applied: a full sweep,
// which publishes only the contact changes that differ from the last one kept. seq is the
// end marker's sequence; applied says whether every earlier sequence was applied.
//
// The sweep settles every member, so the imported members owed and the import mark, as read
// before it, are cleared after it; what another import added meanwhile stays.
func (b *Bridge) settleHistory(ctx context.Context, applied bool) error {
	if !applied {
		return events.RetryAfter(errHistoryPending, time.Second)
	}
	mark, err := b.rdb.Get(ctx, b.keys.importing()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("settle import: %w", err)
	}
	owed, err := b.rdb.HGetAll(ctx, b.keys.importOwed()).Result()
	if err != nil {
		return fmt.Errorf("settle import: %w", err)
	}
	if err := b.sweep(ctx, true); err != nil {
		return fmt.Errorf("settle import: %w", err)
	}
	if _, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for m, ver := range owed {
			p.Eval(ctx, forgetOwedLua, []string{b.keys.importOwed()}, m, ver)
		}
		if mark != "" {
			p.Eval(ctx, endImportLua, []string{b.keys.importing()}, mark)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
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
