package main

import (
	"context"
	"time"

	"github.com/relais-bot/relais/events"
)

// raftFlushTimes are when the Raft log flusher looks for requests (tick) and how old the
// oldest must be before it flushes (settle), for RELAIS_ERASE_WITHIN: the flush starts
// within half of it. Waiting a third lets the rest of an erasure (the CRM's confirmation,
// other erasures of the same hour) land in the logs before they are flushed, once for all;
// the half left covers the flush, the servers' snapshots and one failed attempt.
func raftFlushTimes(within time.Duration) (tick, settle time.Duration) {
	return max(min(within/6, time.Minute), time.Second), within / 3
}

// raftFlushTask flushes the Raft logs of the replicated streams after an erasure (see
// events.FlushRaftLogs). Every bridge replica runs it; two flushing at once only append
// twice the filler. Requests are kept in the event stream, so one made before a crash is
// flushed after the restart.
func raftFlushTask(rt *runtime) task {
	return task{"raft flush", func(ctx context.Context) error {
		tick, settle := raftFlushTimes(rt.cfg.EraseWithin)
		log := rt.log.With("role", "raft-flush")
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			req, ok, err := events.PendingRaftFlush(ctx, rt.js, rt.names)
			if err != nil {
				log.Warn("raft flush: reading requests failed, will retry", "err", err)
				continue
			}
			if !ok || time.Since(req.Oldest.Time) < settle {
				continue
			}
			start := time.Now()
			rep, err := events.FlushRaftLogs(ctx, rt.js, rt.nc, rt.names, req)
			if err != nil {
				log.Warn("raft flush failed, will retry", "err", err)
				continue
			}
			log.Info("raft logs flushed after an erasure", "streams", len(rep.Streams), "filler_bytes", rep.Bytes,
				"took", time.Since(start).Round(time.Millisecond), "request_age", time.Since(req.Oldest.Time).Round(time.Second))
		}
	}}
}
