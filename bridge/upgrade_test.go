package bridge

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-bot/relais/events"
)

// What relais wrote before keeps working: a state hash whose applied sequences are in a
// sorted set of their own, and a settled fingerprint of 40 hex digits.

// TestAppliedSequencesOfBefore: a sequence a bridge before this one applied (kept in the
// member's sorted set, as its Lua numbers printed) is a duplicate for memberLua, which goes
// on with that set; an event never applied still applies.
func TestAppliedSequencesOfBefore(t *testing.T) {
	ctx := context.Background()
	b := stateBridge(t, nil)
	g := newGen()
	apply(t, b, g.ev(events.KindMessage, "1", dayAt(-2, 0)))
	tok := b.token("1")
	h := b.keys.memberKeys(tok)[0]

	// Before: the hash had no xs, the set held what the member script applied.
	again := g.ev(events.KindMessage, "1", dayAt(-1, 0))
	seq := streamPositions([]events.Event{again}).seqs[0]
	if err := b.rdb.HDel(ctx, h, "xs").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.Eval(ctx, `redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[1])); return 1`, []string{b.keys.applied(tok)}, seq).Err(); err != nil {
		t.Fatal(err)
	}
	apply(t, b, again)
	if got := messages(t, b, tok); got != 1 {
		t.Fatalf("a sequence applied before the upgrade applied again: %d messages, want 1", got)
	}
	apply(t, b, g.ev(events.KindMessage, "1", dayAt(-1, 60)), again)
	if got := messages(t, b, tok); got != 2 {
		t.Fatalf("after a new event and the old one again: %d messages, want 2", got)
	}
}

// TestAppliedSequencesMoveToASetPastAFew: a member with more applied sequences above the
// floor than xs holds gets them in a sorted set, and every one of them stays a duplicate.
func TestAppliedSequencesMoveToASetPastAFew(t *testing.T) {
	ctx := context.Background()
	b := stateBridge(t, func(c *Config) { c.BatchSize = 30 }) // several calls on each side of the move
	g := newGen()
	var evs []events.Event
	for i := range 100 {
		evs = append(evs, g.ev(events.KindMessage, "1", dayAt(-1, i)))
	}
	apply(t, b, evs...)
	tok := b.token("1")
	if got := messages(t, b, tok); got != 100 {
		t.Fatalf("%d messages, want 100", got)
	}
	if xs, err := b.rdb.HGet(ctx, b.keys.memberKeys(tok)[0], "xs").Result(); err != nil || xs != "*" {
		t.Fatalf("xs = %q (%v), want the sorted set's mark", xs, err)
	}
	if n, err := b.rdb.ZCard(ctx, b.keys.applied(tok)).Result(); err != nil || n != 100 {
		t.Fatalf("sorted set holds %d (%v), want 100", n, err)
	}
	apply(t, b, evs...)
	if got := messages(t, b, tok); got != 100 {
		t.Fatalf("replayed: %d messages, want 100", got)
	}
}

// messages sums a member's messages per day.
func messages(t *testing.T, b *Bridge, tok string) int {
	t.Helper()
	days, err := b.rdb.HGetAll(context.Background(), b.keys.memberKeys(tok)[1]).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range days {
		n += int(asInt(v))
	}
	return n
}

// TestSettledFingerprintOfBefore: a member whose contact was settled when fingerprints were
// the whole SHA-1 is still settled for the same state, and is not published again.
func TestSettledFingerprintOfBefore(t *testing.T) {
	ctx := context.Background()
	b := stateBridge(t, nil)
	g := newGen()
	apply(t, b, g.ev(events.KindMessage, "1", dayAt(-1, 0)))
	tok := b.token("1")
	states, err := b.evaluate(ctx, []string{tok})
	if err != nil {
		t.Fatal(err)
	}
	fp := states[0].FP
	if len(fp) != 2*fingerprintBytes {
		t.Fatalf("fingerprint %q: want %d hex digits", fp, 2*fingerprintBytes)
	}
	whole := fp + "0123456789abcdef01234567" // the rest of the sum: never compared
	if err := b.rdb.HSet(ctx, b.keys.memberKeys(tok)[0], "pubfp", whole).Err(); err != nil {
		t.Fatal(err)
	}
	states, err = b.evaluate(ctx, []string{tok})
	if err != nil {
		t.Fatal(err)
	}
	if states[0].PubFP != states[0].FP {
		t.Fatalf("settled fingerprint of before %q read as %q, state %q", whole, states[0].PubFP, states[0].FP)
	}
	todo, err := b.unsettled(ctx, []memberState{{Token: tok, FP: fp, PubFP: "older"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(todo) != 0 {
		t.Fatalf("a member settled before the upgrade is decided again: %v", todo)
	}
}

// TestCreditedSetOfBefore: whom a member credited, kept in a set before it became a hash,
// still leads an erasure to their trace in the others' interactions.
func TestCreditedSetOfBefore(t *testing.T) {
	ctx := context.Background()
	b := stateBridge(t, nil)
	g := newGen()
	reply := g.ev(events.KindMessage, "1", dayAt(-1, 0))
	reply.ReplyTo = "2"
	apply(t, b, g.ev(events.KindMessage, "2", dayAt(-1, -60)), reply)
	a, other := b.token("1"), b.token("2")
	holds := func() bool {
		t.Helper()
		vals, err := b.rdb.HGetAll(ctx, b.keys.memberKeys(other)[2]).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if strings.Contains(v, a) {
				return true
			}
		}
		return false
	}
	if !holds() {
		t.Fatal("the reply left no trace in the interactions of the member replied to")
	}
	// Before: a set of the same members, under the set's name.
	credited, err := b.rdb.HKeys(ctx, b.keys.credited(a)).Result()
	if err != nil || len(credited) != 1 || credited[0] != other {
		t.Fatalf("credited hash = %v (%v), want [%s]", credited, err, other)
	}
	if err := b.rdb.SAdd(ctx, b.keys.creditedBefore(a), other).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.Del(ctx, b.keys.credited(a)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Erase(ctx, a); err != nil {
		t.Fatal(err)
	}
	if holds() {
		t.Fatal("an erasure left the erased member in the interactions of someone they credited before the upgrade")
	}
}
