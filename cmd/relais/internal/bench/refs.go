package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// The fixed references the bridge is measured against, on the same Redis in the same run.
// They do what any per-event activity store must at least do, and nothing of relais' rules:
// a dedup check and six counter writes for the sender (messages per day, total, last seen,
// one interaction, group member, group day), plus the expiry, per event.

// refLua is the dedup check and the six writes in one atomic call.
//
// KEYS: dedup, member days, member hash, member interactions, group members, group days.
// ARGV: ttl, day, time, person credited.
const refLua = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HINCRBY', KEYS[3], 'msgs', 1)
redis.call('HSET', KEYS[3], 'last', ARGV[3])
redis.call('HINCRBY', KEYS[4], ARGV[2] .. '|' .. ARGV[4], 1)
redis.call('SADD', KEYS[5], ARGV[5])
redis.call('HINCRBY', KEYS[6], ARGV[2], 1)
return 1
`

const refBatch = 500

// refKeys are an event's keys, all in the sender's slot so both references run on a cluster.
func refKeys(prefix string, h events.Hasher, ev events.Event) []string {
	m := h.Member(ev.Platform, ev.Sender.ID)
	g := "none"
	if ev.Group != nil {
		g = h.Group(ev.Platform, ev.Group.ID)
	}
	b := prefix + "{" + m + "}:"
	return []string{b + "x:" + h.Event(ev.ID), b + "d", b + "h", b + "i", b + "g:" + g + ":m", b + "g:" + g + ":d"}
}

func refArgs(h events.Hasher, ev events.Event) (day, at, person, member string) {
	day = strconv.FormatInt(ev.At.Unix()/86400, 10)
	at = strconv.FormatInt(ev.At.UnixMilli(), 10)
	person = ev.ReplyTo
	if person == "" {
		person = "-"
	}
	return day, at, h.Member(ev.Platform, person), h.Member(ev.Platform, ev.Sender.ID)
}

// benchRefLua runs refLua for every event, pipelined in batches, and returns events/s.
func benchRefLua(ctx context.Context, rdb redis.UniversalClient, prefix string, h events.Hasher, evs []events.Event) (float64, error) {
	sc := redis.NewScript(refLua)
	if err := sc.Load(ctx, rdb).Err(); err != nil {
		return 0, fmt.Errorf("reference lua: %w", err)
	}
	ttl := int64((92 * 24 * time.Hour).Seconds())
	start := time.Now()
	for i := 0; i < len(evs); i += refBatch {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, ev := range evs[i:min(i+refBatch, len(evs))] {
				day, at, person, member := refArgs(h, ev)
				sc.EvalSha(ctx, p, refKeys(prefix, h, ev), ttl, day, at, person, member)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("reference lua: %w", err)
		}
	}
	return benchPerSecond(len(evs), time.Since(start)), nil
}

// benchRefPlain sends the same eight commands per event as plain pipelined writes (no
// atomicity, no dedup decision): the ceiling of a write path without Lua.
func benchRefPlain(ctx context.Context, rdb redis.UniversalClient, prefix string, h events.Hasher, evs []events.Event) (float64, error) {
	ttl := 92 * 24 * time.Hour
	start := time.Now()
	for i := 0; i < len(evs); i += refBatch {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, ev := range evs[i:min(i+refBatch, len(evs))] {
				k := refKeys(prefix, h, ev)
				day, at, person, member := refArgs(h, ev)
				p.SetNX(ctx, k[0], "1", ttl)
				p.HIncrBy(ctx, k[1], day, 1)
				p.HIncrBy(ctx, k[2], "msgs", 1)
				p.HSet(ctx, k[2], "last", at)
				p.HIncrBy(ctx, k[3], day+"|"+person, 1)
				p.SAdd(ctx, k[4], member)
				p.HIncrBy(ctx, k[5], day, 1)
				p.Expire(ctx, k[1], ttl)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("reference plain writes: %w", err)
		}
	}
	return benchPerSecond(len(evs), time.Since(start)), nil
}

// benchRedisMemory reads used_memory from INFO memory (the first node of a cluster).
func benchRedisMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("info memory: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("info memory: no used_memory")
}
