package bridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/events"
)

// A member nobody wrote about for longer than the replay horizon is forgotten by Redis too:
// after their keys expire, the daily full sweep leaves no key and no index entry holding their
// token or name. This test owns a miniredis, whose clock it can move.
func TestRetentionForgetsSilentMembers(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	now := testNow
	cfg := Config{KeyPrefix: "ret:", Now: func() time.Time { return now }, BatchSize: 50}
	b, err := newBridge(cfg, rdb, testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.scripts.load(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	g := newGen()
	var evs []events.Event
	for d := range 4 {
		for i := range 4 {
			evs = append(evs, g.ev(events.KindMessage, "41", dayAt(-d, i)))
		}
	}
	reply := g.ev(events.KindMessage, "42", dayAt(0, 9))
	reply.ReplyTo = "41"
	evs = append(evs, reply)
	apply(t, b, evs...)
	if c := card(t, b, "41"); c.Messages != 16 {
		t.Fatalf("setup: %d messages", c.Messages)
	}

	horizon := b.cfg.DedupTTL + time.Hour
	m.FastForward(horizon)
	now = now.Add(horizon)
	if err := b.sweep(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"41", "42"} {
		tok := b.token(id)
		for _, k := range m.Keys() {
			if strings.Contains(k, tok) {
				t.Errorf("key %q still names member %s", k, id)
			}
			if dump := m.Dump(); strings.Contains(dump, tok) || strings.Contains(dump, "Member "+id) {
				t.Fatalf("redis still holds member %s after the retention horizon:\n%s", id, dump)
			}
		}
	}
	if _, ok, err := b.Query().Member(ctx, b.token("41")); err != nil || ok {
		t.Fatalf("card after retention: found=%v err=%v", ok, err)
	}
}
