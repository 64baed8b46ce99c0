package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/events"
)

// rebuild tracks a rebuild of the state from the event log (the embedded Redis starts empty
// at every start). While it runs, the state is partial: organisers are told so, activity
// waits, and no contact change is decided from it.
type rebuild struct {
	active         atomic.Bool
	applied, total atomic.Uint64
}

// errRebuilding delays live activity until the rebuild is done: applying it on a partial
// state could miss the message a reaction points at, and the replay would then find it
// already counted.
var errRebuilding = errors.New("state being rebuilt from the event log")

// StartRebuild marks the state as being rebuilt, before Run and Replay start, so that no
// event is applied live and no contact change decided until Replay is done.
func (b *Bridge) StartRebuild() { b.rebuild.active.Store(true) }

// Rebuilding reports whether the state is being rebuilt, and how far along (0-100).
func (b *Bridge) Rebuilding() (bool, int) {
	if !b.rebuild.active.Load() {
		return false, 100
	}
	total, applied := b.rebuild.total.Load(), b.rebuild.applied.Load()
	if total == 0 {
		return true, 0
	}
	return true, int(min(99, applied*100/total))
}

func (b *Bridge) rebuilding() bool { return b.rebuild.active.Load() }

// progress records a replay's progress and logs it every few seconds.
func (b *Bridge) progress(applied, pending uint64, lastLog *time.Time) {
	b.rebuild.applied.Store(applied)
	if t := applied + pending; t > b.rebuild.total.Load() {
		b.rebuild.total.Store(t)
	}
	if time.Since(*lastLog) >= 5*time.Second {
		*lastLog = time.Now()
		_, pct := b.Rebuilding()
		b.cfg.Log.Info("rebuilding state from the event log", "events", applied, "of", b.rebuild.total.Load(), "percent", pct)
	}
}

// RebuildAndRun rebuilds the state from the log (Replay from since) while Run answers
// commands; once the rebuild is done, Run applies the activity that waited. A replay that
// fails is started again with backoff: the state must be whole before anything is decided.
func (b *Bridge) RebuildAndRun(ctx context.Context, since time.Time) error {
	b.StartRebuild()
	go func() {
		for attempt := uint64(1); ctx.Err() == nil; attempt++ {
			err := b.Replay(ctx, since)
			if err == nil {
				return
			}
			b.cfg.Log.Warn("rebuild failed, starting again", "attempt", attempt, "err", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(events.Backoff(attempt, time.Second, 30*time.Second)):
			}
		}
	}()
	return b.Run(ctx)
}

// Replay applies every event of the stream from since on, in stream order, through the same
// path as Run but without acks, commands or intermediate contact changes; then it evaluates
// every member at the clock and publishes only the contact changes that differ from the last
// state kept in RELAIS_CRM. Use Config.ReplayStart for a rebuild equal to the live state.
func (b *Bridge) Replay(ctx context.Context, since time.Time) error {
	if err := b.scripts.load(ctx, b.rdb); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{b.names.EventsFilter()}}
	// A start time is only asked for when the stream holds older events. After a crash
	// (SIGKILL) an embedded file store may recover with its last message time unknown, and
	// the server then finds no message after any start time: the replay would rebuild
	// nothing. Replaying from the first event is then the same as from since anyway.
	if s, err := b.js.Stream(ctx, b.names.EventsStream()); err == nil {
		if info, err := s.Info(ctx); err == nil && (info.State.LastTime.IsZero() || !info.State.FirstTime.Before(since)) {
			since = time.Time{}
		}
	}
	if !since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	cons, err := b.js.OrderedConsumer(ctx, b.names.EventsStream(), cfg)
	if err != nil {
		return fmt.Errorf("replay: consumer: %w", err)
	}
	b.rebuild.active.Store(true)
	defer b.rebuild.active.Store(false)
	start, lastLog := time.Now(), time.Now()
	var (
		applied, skipped int
		floor            uint64 // every event up to it is applied: the end of the previous batch
	)
	for {
		// Batches several times the live size: nothing waits on a replayed event, and a
		// member's events of a batch are one call (measured with BenchmarkReplay on the
		// embedded Redis: 4.3k events/s at 1×, 11k at 8×).
		batch, err := cons.FetchNoWait(replayBatches * b.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("replay: fetch: %w", err)
		}
		var (
			evs  []events.Event
			last jetstream.Msg
			pos  = positions{floor: floor}
		)
		for m := range batch.Messages() {
			last = m
			ev, err := events.DecodeEvent(m.Data())
			if err != nil || ev.Kind == events.KindCommand || ev.Kind == events.KindConsent {
				skipped++ // dead-lettered or answered when it was live
				continue
			}
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			evs = append(evs, ev)
			pos.seqs = append(pos.seqs, md.Sequence.Stream)
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("replay: fetch: %w", err)
		}
		if last == nil {
			break
		}
		if len(evs) > 0 {
			if _, err := b.applyEventsRetrying(ctx, evs, pos); err != nil {
				return err
			}
			applied += len(evs)
		}
		md, err := last.Metadata()
		if err == nil {
			floor = md.Sequence.Stream
		}
		if err == nil {
			b.progress(uint64(applied+skipped), md.NumPending, &lastLog)
		}
		if err == nil && md.NumPending == 0 {
			break
		}
	}
	took := time.Since(start)
	b.cfg.Log.Info("replay: events applied", "events", applied, "skipped", skipped,
		"took", took.Round(time.Millisecond).String(), "events_per_s", int(float64(applied+skipped)/max(took.Seconds(), 1e-3)))
	// The state is whole: live activity may go on while the sweep decides every contact.
	b.rebuild.active.Store(false)
	return b.sweep(ctx, true)
}

// replayBatches is how many live batches a replay applies at once.
const replayBatches = 8

// applyEventsRetrying applies a replayed batch, waiting out Redis outages: a replay has no
// redelivery to fall back on.
func (b *Bridge) applyEventsRetrying(ctx context.Context, evs []events.Event, pos positions) ([]error, error) {
	for attempt := uint64(1); ; attempt++ {
		errs, err := b.applyEvents(ctx, evs, pos, false)
		if err == nil {
			return errs, nil
		}
		b.cfg.Log.Warn("replay: retrying batch", "attempt", attempt, "err", err.Error())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("replay: %w", err)
		case <-time.After(events.Backoff(attempt, 200*time.Millisecond, 30*time.Second)):
		}
	}
}
