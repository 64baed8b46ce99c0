package bridge

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

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
