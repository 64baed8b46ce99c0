package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/relais-bot/relais/bridge"
)

// benchRebuildPoint is one rebuild of a log of Events events into an empty state.
type benchRebuildPoint struct {
	Events     int     `json:"events"`
	Seconds    float64 `json:"seconds"`
	EventsPerS float64 `json:"events_per_s"`
	// RedisBytes is what the rebuilt state added to Redis' used_memory (0: the embedded
	// Redis does not report it).
	RedisBytes int64 `json:"redis_state_bytes"`
	// AuthorMapBytes is the part of it in the groups' message→author maps (one entry per
	// message of the last one to two windows: what credits a reaction whose author the
	// platform does not send), from MEMORY USAGE; 0 where Redis does not report it.
	AuthorMapBytes int64 `json:"author_map_bytes"`
	// AppliedKeys counts the members' and groups' applied-sequence sets left (dedup state).
	AppliedKeys int `json:"applied_sequence_sets"`
}

// benchRebuildScale publishes the workload at each size into a log of its own and rebuilds
// the state from it as a restart does (Replay into an empty key space, then the full sweep),
// with the same members and groups at every size: how long a restart leaves the state
// partial, and whether Redis memory grows with members rather than events.
func benchRebuildScale(ctx context.Context, env *Env, o Options, say func(string, ...any)) ([]benchRebuildPoint, error) {
	var out []benchRebuildPoint
	for i, n := range o.RebuildEvents {
		stage := "G" + strconv.Itoa(i)
		_, pub, err := env.setup(ctx, stage)
		if err != nil {
			return out, err
		}
		w := o.workload(n)
		say("   rebuild of %d events: publishing", len(w.Events))
		if err := benchPublish(ctx, env.js, pub, w.Events); err != nil {
			return out, err
		}
		cfg := o.bridgeConfig(env.keyPrefix(stage))
		cfg.SingleWriter = env.embeddedRedis
		b, err := bridge.New(cfg, env.rdb, env.js, pub, nil, nil)
		if err != nil {
			return out, err
		}
		before, memErr := benchRedisMemory(ctx, env.rdb)
		start := time.Now()
		if err := b.Replay(ctx, time.Time{}); err != nil {
			return out, fmt.Errorf("bench: rebuild of %d events: %w", n, err)
		}
		took := time.Since(start)
		p := benchRebuildPoint{Events: len(w.Events), Seconds: took.Seconds(), EventsPerS: benchPerSecond(len(w.Events), took)}
		if after, err := benchRedisMemory(ctx, env.rdb); err == nil && memErr == nil {
			p.RedisBytes = after - before
		}
		prefix := env.keyPrefix(stage)
		maps, err := benchScanKeys(ctx, env.rdb, prefix+"g:*:t:*")
		if err != nil {
			return out, err
		}
		for _, k := range maps {
			if n, err := env.rdb.MemoryUsage(ctx, k).Result(); err == nil {
				p.AuthorMapBytes += n
			}
		}
		applied, err := benchScanKeys(ctx, env.rdb, prefix+"*}:x")
		if err != nil {
			return out, err
		}
		p.AppliedKeys = len(applied)
		say("   rebuild of %d events: %.1f s, %.0f events/s, Redis +%.1f MiB (author maps %.1f MiB, %d applied-sequence sets)",
			p.Events, p.Seconds, p.EventsPerS, float64(p.RedisBytes)/(1<<20), float64(p.AuthorMapBytes)/(1<<20), p.AppliedKeys)
		out = append(out, p)
		// Free the log and the keys before the next size.
		if err := env.cleanup(ctx, stage); err != nil {
			return out, err
		}
	}
	return out, nil
}
