package bench

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

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
	// message of the group's last 2000 to 4000: what credits a reaction whose author the
	// platform does not send), from MEMORY USAGE; 0 where Redis does not report it.
	AuthorMapBytes int64 `json:"author_map_bytes"`
	// KindBytes splits the state's MEMORY USAGE by kind of key ("m:i": the members'
	// interactions, "g:t": the author maps, "idx:people"...), to see which grows with events.
	KindBytes map[string]int64 `json:"state_bytes_by_kind,omitempty"`
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
		if p.KindBytes, err = benchKindBytes(ctx, env.rdb, prefix, env.embeddedRedis); err != nil {
			return out, err
		}
		p.AuthorMapBytes = p.KindBytes["g:t"]
		applied, err := benchScanKeys(ctx, env.rdb, prefix+"*}:x")
		if err != nil {
			return out, err
		}
		p.AppliedKeys = len(applied)
		say("   rebuild of %d events: %.1f s, %.0f events/s, Redis +%.1f MiB (author maps %.1f MiB, %d applied-sequence sets; by kind %s)",
			p.Events, p.Seconds, p.EventsPerS, float64(p.RedisBytes)/(1<<20), float64(p.AuthorMapBytes)/(1<<20), p.AppliedKeys, benchKinds(p.KindBytes))
		out = append(out, p)
		// Free the log and the keys before the next size.
		if err := env.cleanup(ctx, stage); err != nil {
			return out, err
		}
	}
	return out, nil
}

// benchKindBytes sums the MEMORY USAGE of the keys under prefix by kind: the key's name with
// the prefix and the member, group or index tag left out, and an author map's generation too
// ("m:i", "g:t", "idx:people"). Exact (every element counted) unless the Redis is the
// embedded one, which takes no SAMPLES; keys it does not report are left out.
func benchKindBytes(ctx context.Context, rdb redis.UniversalClient, prefix string, embedded bool) (map[string]int64, error) {
	keys, err := benchScanKeys(ctx, rdb, prefix+"*")
	if err != nil {
		return nil, err
	}
	var samples []int
	if !embedded {
		samples = []int{0}
	}
	out := map[string]int64{}
	for from := 0; from < len(keys); from += 1000 {
		chunk := keys[from:min(from+1000, len(keys))]
		cmds := make([]*redis.IntCmd, len(chunk))
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range chunk {
				cmds[i] = p.MemoryUsage(ctx, k, samples...)
			}
			return nil
		})
		for i, k := range chunk {
			if n, err := cmds[i].Result(); err == nil {
				out[benchKeyKind(strings.TrimPrefix(k, prefix))] += n
			}
		}
	}
	return out, nil
}

// benchKeyKind is the kind of a key named without its prefix: "m:{tok}:i" → "m:i",
// "g:{tok}:t:12" → "g:t", "idx:{i}:people" → "idx:people".
func benchKeyKind(k string) string {
	kind, rest, _ := strings.Cut(k, ":")
	if i := strings.Index(rest, "}:"); i >= 0 {
		rest = rest[i+2:]
	}
	if kind == "g" {
		rest, _, _ = strings.Cut(rest, ":")
	}
	return kind + ":" + rest
}

// benchKinds lists the kinds of key by size, largest first, those over 1% of the total.
func benchKinds(by map[string]int64) string {
	kinds := slices.Collect(maps.Keys(by))
	slices.SortFunc(kinds, func(a, b string) int { return cmp.Compare(by[b], by[a]) })
	total := benchTotal(by)
	parts := []string{fmt.Sprintf("total %.1f", float64(total)/(1<<20))}
	for _, k := range kinds {
		if by[k]*100 >= total {
			parts = append(parts, fmt.Sprintf("%s %.1f", k, float64(by[k])/(1<<20)))
		}
	}
	return strings.Join(parts, ", ") + " MiB"
}

// benchTotal is the memory of every kind of key together.
func benchTotal(by map[string]int64) int64 {
	var total int64
	for _, n := range by {
		total += n
	}
	return total
}
