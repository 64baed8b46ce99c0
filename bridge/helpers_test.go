package bridge

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventstest"
)

// testNow is the clock of every test: noon UTC, so event times a few hours apart stay on
// their day.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func testHasher(t testing.TB) events.Hasher {
	t.Helper()
	h, err := events.NewHasher(eventstest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// stateBridge is a bridge without NATS, on the test's Redis, for rule and window tests.
func stateBridge(t testing.TB, edit func(*Config)) *Bridge {
	t.Helper()
	rdb, prefix := bridgetest.Redis(t)
	cfg := Config{KeyPrefix: prefix, Now: func() time.Time { return testNow }, BatchSize: 200}
	if edit != nil {
		edit(&cfg)
	}
	b, err := newBridge(cfg, rdb, testHasher(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.scripts.load(context.Background(), rdb); err != nil {
		t.Fatal(err)
	}
	return b
}

// apply applies events and fails the test on any error.
func apply(t testing.TB, b *Bridge, evs ...events.Event) {
	t.Helper()
	for chunk := range slices.Chunk(evs, b.cfg.BatchSize) {
		errs, err := b.applyEvents(context.Background(), chunk, streamPositions(chunk), false)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		for i, e := range errs {
			if e != nil {
				t.Fatalf("apply event %s: %v", chunk[i].ID, e)
			}
		}
	}
}

// streamPositions gives events applied without a stream the sequences a stream would: one
// per event id (a redelivery has its original's), and no floor.
func streamPositions(evs []events.Event) positions {
	pos := positions{seqs: make([]uint64, len(evs))}
	for i, ev := range evs {
		h := fnv.New64a()
		h.Write([]byte(ev.ID))
		pos.seqs[i] = h.Sum64()>>12 + 1 // Lua numbers are doubles: exact below 2^53
	}
	return pos
}

// gen builds events with unique ids.
type gen struct {
	n     int
	group events.Group
}

func newGen() *gen { return &gen{group: events.Group{ID: "-1001", Title: "Entraide Belleville"}} }

func (g *gen) ev(kind events.Kind, sender string, at time.Time) events.Event {
	g.n++
	grp := g.group
	return events.Event{
		V: events.Version, ID: fmt.Sprintf("telegram:%s:%d", grp.ID, g.n), Kind: kind,
		Platform: events.Telegram, At: at, Group: &grp,
		Sender: events.Member{ID: sender, Name: "Member " + sender, Username: "user" + sender},
	}
}

// day returns noon of the day offset days from the test's today, plus i seconds.
func dayAt(offset, i int) time.Time {
	return testNow.AddDate(0, 0, offset).Add(time.Duration(i) * time.Second)
}

func (b *Bridge) token(id string) string { return b.hash.Member(events.Telegram, id) }

func activityTags(c MemberCard) []string {
	var out []string
	for _, t := range c.Tags {
		if !strings.Contains(t, TagGroup) {
			out = append(out, strings.TrimPrefix(t, "relais-"))
		}
	}
	return out
}

func card(t testing.TB, b *Bridge, id string) MemberCard {
	t.Helper()
	c, ok, err := b.Query().Member(context.Background(), b.token(id))
	if err != nil || !ok {
		t.Fatalf("member %s: found=%v err=%v", id, ok, err)
	}
	return c
}
