package bridge

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/events"
)

// TestWritePathsAgree is the conformance suite of the two write paths: the Lua scripts
// (any number of replicas) and the plain pipelines of a single writer (the embedded Redis).
// The same stream, with events out of time order, redelivered batches (the same sequences
// again, under a lagging floor and above it) and an erasure whose anonymised copies arrive
// live (carrying their originals' sequences), must leave the same Redis state behind, key
// by key, and the same answers to every query; also when the author maps turn over many
// times, within batches too.
func TestWritePathsAgree(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mapSize int
	}{
		{"default author maps", 0},
		{"author maps of 25 messages", 25},
	} {
		t.Run(tc.name, func(t *testing.T) { testWritePathsAgree(t, tc.mapSize) })
	}
}

func testWritePathsAgree(t *testing.T, mapSize int) {
	t.Helper()
	evs, _ := streamShape{events: 1200, members: 40, seed: 7, gap: 60}.generate(testNow)
	// Out of time order: every run of 5 events reversed.
	for i := 0; i+5 <= len(evs); i += 5 {
		slices.Reverse(evs[i : i+5])
	}
	seqs := make([]uint64, len(evs))
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	var (
		raws   []map[string]string
		states []state
	)
	for _, single := range []bool{false, true} {
		b, rdb, prefix := writePathBridge(t, single, mapSize, 100)
		ctx := context.Background()
		feed := func(from, to int, floor uint64) {
			t.Helper()
			if _, err := b.applyEvents(ctx, evs[from:to], positions{seqs: seqs[from:to], floor: floor}, false); err != nil {
				t.Fatalf("apply %d-%d: %v", from, to, err)
			}
		}
		erased := evs[0].Sender.ID
		const size = 100
		for i := 0; i < len(evs); i += size {
			end := min(i+size, len(evs))
			// The ack floor lags a batch and a half behind.
			floor := uint64(max(0, i-150))
			feed(i, end, floor)
			if (i/size)%3 == 1 {
				feed(i-size, end, floor)     // the batch before and this one, redelivered
				feed(i, end, uint64(i+size)) // this one again, above a floor that passed it
			}
			if i == len(evs)/2/size*size {
				// An erasure: their state goes, and their messages come back live as
				// anonymised copies with the originals' sequences: nothing changes.
				if err := b.Erase(ctx, b.token(erased)); err != nil {
					t.Fatal(err)
				}
				var copies []events.Event
				var cs []uint64
				for j, ev := range evs[:end] {
					if ev.Sender.ID == erased && ev.Kind == events.KindMessage && ev.Group != nil {
						copies = append(copies, events.Event{V: events.Version, ID: ev.ID, Kind: ev.Kind, Platform: ev.Platform, At: ev.At,
							Group: &events.Group{ID: ev.Group.ID, Title: ev.Group.Title}, Sender: events.Member{ID: events.PseudonymPrefix + "x1"}})
						cs = append(cs, seqs[j])
					}
				}
				if len(copies) == 0 {
					t.Fatal("the erased member sent no message")
				}
				before := rawState(t, rdb, prefix)
				if _, err := b.applyEvents(ctx, copies, positions{seqs: cs, floor: floor}, false); err != nil {
					t.Fatal(err)
				}
				after := rawState(t, rdb, prefix)
				for k, v := range before {
					if strings.HasPrefix(k, "g:") && after[k] != v {
						t.Errorf("single writer %v: the copies changed %s:\nbefore %s\nafter  %s", single, k, v, after[k])
					}
				}
			}
		}
		if err := b.sweep(ctx, true); err != nil {
			t.Fatal(err)
		}
		raws = append(raws, rawState(t, rdb, prefix))
		states = append(states, (&rig{t: t, rdb: rdb, prefix: prefix, cfg: b.Config()}).state())
	}
	if len(raws[0]) < 100 {
		t.Fatalf("suspiciously little state: %d keys", len(raws[0]))
	}
	for k, v := range raws[0] {
		if raws[1][k] != v {
			t.Errorf("key %s:\nlua   %s\nplain %s", k, v, raws[1][k])
		}
	}
	for k := range raws[1] {
		if _, ok := raws[0][k]; !ok {
			t.Errorf("key %s only on the plain path: %s", k, raws[1][k])
		}
	}
	diffStates(t, "plain vs lua", states[0], states[1])
}

// rawState dumps every key under prefix but the applied sequences (the plain path keeps them
// in memory, memberLua in the state hash's xs) as text, keyed by name without the prefix.
func rawState(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		name := strings.TrimPrefix(k, prefix)
		if strings.HasSuffix(name, "}:x") {
			continue
		}
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "hash":
			h := rdb.HGetAll(ctx, k).Val()
			delete(h, "xf")
			delete(h, "xs")
			v = h
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = m
		case "zset":
			v = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		default:
			v = rdb.Get(ctx, k).Val()
		}
		out[name] = fmt.Sprintf("%s %v", typ, v)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuthorMapsIgnoreBatching: whom a reaction credits through the author maps does not
// depend on how the stream is cut into batches (live takes a few events at a time, a replay
// thousands) nor on redelivered events mixed in, even when the maps turn over within a
// batch; and an erasure takes the member out of both maps.
func TestAuthorMapsIgnoreBatching(t *testing.T) {
	evs, _ := streamShape{events: 1200, members: 40, seed: 11, gap: 60}.generate(testNow)
	seqs := make([]uint64, len(evs))
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	ctx := context.Background()
	for _, single := range []bool{false, true} {
		var want map[string]string
		for _, size := range []int{1, 37, 150, len(evs)} {
			b, rdb, prefix := writePathBridge(t, single, 25, 0)
			for i := 0; i < len(evs); i += size {
				from, to := max(0, i-size), min(i+size, len(evs)) // with the batch before again
				if _, err := b.applyEvents(ctx, evs[from:to], positions{seqs: seqs[from:to]}, false); err != nil {
					t.Fatalf("apply %d-%d: %v", from, to, err)
				}
			}
			got := creditState(t, rdb, prefix)
			if want == nil {
				want = got
				if !slices.ContainsFunc(slices.Collect(maps.Keys(got)), func(k string) bool { return strings.HasSuffix(k, "}:t:p") }) {
					t.Fatal("the author maps never turned over")
				}
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("single writer %v, batches of %d: key %s:\ngot  %s\nwant %s", single, size, k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("single writer %v, batches of %d: key %s only here: %s", single, size, k, got[k])
				}
			}
			if size != len(evs) {
				continue
			}
			tok := b.token("1000")
			mapped := func() (in []string) {
				for k, v := range creditState(t, rdb, prefix) {
					if strings.Contains(k, "}:t:") && strings.Contains(v, tok) {
						in = append(in, k)
					}
				}
				return in
			}
			if len(mapped()) < 2 {
				t.Fatalf("single writer %v: the busiest member is in author maps %v, want a current and a previous one", single, mapped())
			}
			if err := b.Erase(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if in := mapped(); len(in) > 0 {
				t.Errorf("single writer %v: the erased member is still in author maps %v", single, in)
			}
		}
	}
}

// creditState is what the author maps decide: the maps and the group's message count, each
// member's interactions, whom they credited and their reply, mention and reaction counts.
func creditState(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for k, v := range rawState(t, rdb, prefix) {
		switch {
		case strings.Contains(k, "}:t:"), strings.HasSuffix(k, "}:i"), strings.HasSuffix(k, "}:c"):
			out[k] = v
		case strings.HasPrefix(k, "g:") && strings.HasSuffix(k, "}:h"):
			out[k+" tn"] = rdb.HGet(ctx, prefix+k, "tn").Val()
		case strings.HasPrefix(k, "m:") && strings.HasSuffix(k, "}:h"):
			out[k+" credits"] = fmt.Sprint(rdb.HMGet(ctx, prefix+k, "replies", "mentions", "reactions").Val())
		}
	}
	return out
}

// TestAuthorMapsReach: a reaction credits the author of one of the group's last
// AuthorMapSize to twice that messages, counted as they were applied: a redelivered message
// does not count again, a new one in the same batch as the reaction does.
func TestAuthorMapsReach(t *testing.T) {
	for _, tc := range []struct {
		name     string
		again    bool // the batch redelivers the fifth message, else brings a sixth
		credited bool
	}{
		{"a redelivered message does not turn the maps over", true, true},
		{"a new message turns them over before the reaction", false, false},
	} {
		for _, single := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, single writer %v", tc.name, single), func(t *testing.T) {
				ctx := context.Background()
				b, rdb, _ := writePathBridge(t, single, 3, 0)
				g := newGen()
				var msgs []events.Event
				for i := range 6 {
					msgs = append(msgs, g.ev(events.KindMessage, strconv.Itoa(i+1), dayAt(-1, i)))
				}
				apply := func(evs ...events.Event) {
					t.Helper()
					if _, err := b.applyEvents(ctx, evs, streamPositions(evs), false); err != nil {
						t.Fatal(err)
					}
				}
				for _, m := range msgs[:5] { // maps: previous 1-3, current 4-5
					apply(m)
				}
				react := g.ev(events.KindReaction, "9", dayAt(-1, 10))
				react.Target = messageID(msgs[1].ID)
				first := msgs[5]
				if tc.again {
					first = msgs[4]
				}
				apply(first, react)
				got := rdb.HGet(ctx, b.keys.memberKeys(b.token("2"))[0], "reactions").Val() == "1"
				if got != tc.credited {
					t.Errorf("author of the second message credited: %v, want %v", got, tc.credited)
				}
			})
		}
	}
}

// writePathBridge is the Redis half of a bridge on a fresh prefix, on the Lua write path or
// the single writer's plain one, its scripts loaded.
func writePathBridge(t *testing.T, single bool, authorMapSize, batchSize int) (*Bridge, redis.UniversalClient, string) {
	t.Helper()
	rdb, prefix := bridgetest.Redis(t)
	cfg := Config{KeyPrefix: prefix, Policy: PolicyNotice, BatchSize: batchSize, Now: func() time.Time { return testNow },
		SingleWriter: single, AuthorMapSize: authorMapSize}
	b, err := newBridge(cfg, rdb, testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.scripts.load(context.Background(), rdb); err != nil {
		t.Fatal(err)
	}
	return b, rdb, prefix
}

// TestAuthorMapsKeepNothingPastRetention: on both write paths, a message→author map expires
// two windows and a day after it was started however much is written to it later (a quiet
// group never fills it), and a message older than that is not mapped at all (a rebuild
// replays such messages).
func TestAuthorMapsKeepNothingPastRetention(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single writer %v", single), func(t *testing.T) {
			ctx := context.Background()
			b, rdb, _ := writePathBridge(t, single, 2000, 0)
			g := newGen()
			apply := func(evs ...events.Event) {
				t.Helper()
				if _, err := b.applyEvents(ctx, evs, streamPositions(evs), false); err != nil {
					t.Fatal(err)
				}
			}
			old := g.ev(events.KindMessage, "1", dayAt(-70, 0))
			apply(old)
			cur := b.keys.authorMap(b.hash.Group(events.Telegram, old.Group.ID))
			if n := rdb.HLen(ctx, cur).Val(); n != 0 {
				t.Fatalf("a 70-day-old message mapped: %d entries", n)
			}
			apply(g.ev(events.KindMessage, "1", dayAt(0, 1)))
			if n := rdb.HLen(ctx, cur).Val(); n != 1 {
				t.Fatalf("today's message: %d entries, want 1", n)
			}
			// The map as if started long ago: a later message must not give it a new life.
			const left = 1000 * time.Second
			if err := rdb.Expire(ctx, cur, left).Err(); err != nil {
				t.Fatal(err)
			}
			apply(g.ev(events.KindMessage, "2", dayAt(0, 2)))
			if n := rdb.HLen(ctx, cur).Val(); n != 2 {
				t.Fatalf("second message: %d entries, want 2", n)
			}
			if ttl := rdb.TTL(ctx, cur).Val(); ttl <= 0 || ttl > left {
				t.Fatalf("map expires in %s after a new message, want at most the %s it had", ttl, left)
			}
		})
	}
}

// TestAuthorMapsNeverOutliveTheLog: with a retention shorter than two windows, a message
// older than the retention is not mapped and a map expires within it, on both write paths.
func TestAuthorMapsNeverOutliveTheLog(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(fmt.Sprintf("single writer %v", single), func(t *testing.T) {
			ctx := context.Background()
			rdb, prefix := bridgetest.Redis(t)
			const retention = 30 * 24 * time.Hour
			b, err := newBridge(Config{KeyPrefix: prefix, Policy: PolicyNotice, Now: func() time.Time { return testNow },
				SingleWriter: single, Retention: retention}, rdb, testHasher(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.scripts.load(ctx, rdb); err != nil {
				t.Fatal(err)
			}
			g := newGen()
			for _, ev := range []events.Event{g.ev(events.KindMessage, "1", dayAt(-40, 0)), g.ev(events.KindMessage, "1", dayAt(0, 1))} {
				if _, err := b.applyEvents(ctx, []events.Event{ev}, streamPositions([]events.Event{ev}), false); err != nil {
					t.Fatal(err)
				}
			}
			cur := b.keys.authorMap(b.hash.Group(events.Telegram, g.group.ID))
			if n := rdb.HLen(ctx, cur).Val(); n != 1 {
				t.Fatalf("%d messages mapped, want only today's (the other is older than the retention)", n)
			}
			if ttl := rdb.TTL(ctx, cur).Val(); ttl <= 0 || ttl > retention {
				t.Fatalf("map expires in %s, want within the %s retention", ttl, retention)
			}
		})
	}
}
