//go:build failure

package main

import (
	"context"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/events/eventsim"
)

// Redis wiped after a live run: `relais replay` rebuilds exactly the same state from the event
// log, and publishes no contact change (the CRM already holds every desired state).
func TestFailureRedisWipedReplay(t *testing.T) {
	n := 30_000
	if !failRealRedis() {
		n = 6_000
		t.Logf("REDIS_URL unset: %d events on miniredis", n)
	}
	bin := buildRelais(t)
	bb := newFailBackbone(t)
	rdb, redisURL := failRedis(t)
	d := newFailDeployment(t, bb, rdb, redisURL, nil)
	sim := eventsim.DefaultConfig(n)
	wl := eventsim.Generate(sim)
	ctx := context.Background()
	if _, err := failPublish(ctx, bb.js, d.pub, wl.Events); err != nil {
		t.Fatal(err)
	}
	live := d.inProcessBridge(t)
	_, liveTook := live.runUntilDrained(t, bb.js, d.names, uint64(n), 5*time.Minute)
	live.settle(t)
	want := failTakeSnapshot(t, live.bridge.Query(), d.hasher, sim.Members)
	failCheckCounts(t, "live run", want, d.hasher, wl.Events)
	wantCC, wantSeq := failContactStates(t, bb.js, d.names)
	keysBefore := countKeys(t, rdb, d.keyPrefix())

	// Wipe: every key of the deployment, nothing else (other tests share a real Redis).
	if err := bridgetest.DeletePrefix(ctx, rdb, d.keyPrefix()); err != nil {
		t.Fatal(err)
	}
	if left := countKeys(t, rdb, d.keyPrefix()); left != 0 {
		t.Fatalf("%d keys left after the wipe", left)
	}
	if s := failTakeSnapshot(t, live.bridge.Query(), d.hasher, sim.Members); len(s.Members) != 0 || len(s.Groups) != 0 {
		t.Fatalf("state survived the wipe: %d members, %d groups", len(s.Members), len(s.Groups))
	}

	replay := exec.Command(bin, "replay")
	replay.Dir = t.TempDir()
	replay.Env = append(failProcessEnv(), d.environ()...)
	start := time.Now()
	out, err := replay.CombinedOutput()
	replayTook := time.Since(start)
	if err != nil {
		t.Fatalf("relais replay: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "replayed the event log since") {
		t.Errorf("relais replay said %q", out)
	}

	got := failTakeSnapshot(t, live.bridge.Query(), d.hasher, sim.Members)
	failDiffSnapshots(t, "replay after wipe vs live", want, got)
	gotCC, gotSeq := failContactStates(t, bb.js, d.names)
	if gotSeq != wantSeq {
		t.Errorf("replay published %d contact changes, want none", gotSeq-wantSeq)
	}
	if !reflect.DeepEqual(gotCC, wantCC) {
		t.Errorf("contact changes moved during the replay")
	}
	keysAfter := countKeys(t, rdb, d.keyPrefix())
	t.Logf("%d events: live run %s (%.0f events/s); %d Redis keys wiped; relais replay %s (%.0f events/s, process start included), %d keys rebuilt",
		n, liveTook.Round(time.Millisecond), float64(n)/liveTook.Seconds(), keysBefore,
		replayTook.Round(time.Millisecond), float64(n)/replayTook.Seconds(), keysAfter)
	t.Logf("state compared: %d members, %d groups, top %d, %d leaders; %d contacts desired, %d changes published, 0 by the replay",
		len(got.Members), len(got.Groups), len(got.Top), len(got.Leaders), len(gotCC), gotSeq)
}

// countKeys counts the keys under a prefix (on every master of a cluster).
func countKeys(t *testing.T, rdb redis.UniversalClient, prefix string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	count := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return count(ctx, m)
		})
	case *redis.Client:
		err = count(ctx, c)
	default:
		t.Fatalf("redis client %T", rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}
