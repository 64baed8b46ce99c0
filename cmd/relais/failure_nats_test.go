//go:build failure

package main

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-bot/relais/events/embedded"
	"github.com/relais-bot/relais/events/eventsim"
)

// NATS restarted twice mid-run (same store, same address) while an adapter-like publisher
// publishes and the bridge consumes: every event stored once and counted once.
func TestFailureNATSRestartedMidRun(t *testing.T) {
	n := 10_000
	if !failRealRedis() {
		n = 4_000
		t.Logf("REDIS_URL unset: %d events on miniredis", n)
	}
	const restarts = 2
	const downtime = 2 * time.Second
	// This test owns its server even when NATS_URL is set: it has to restart it.
	storeDir := t.TempDir()
	srv, err := embedded.StartNATS(embedded.Options{Dir: storeDir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var srvMu sync.Mutex
	t.Cleanup(func() {
		srvMu.Lock()
		defer srvMu.Unlock()
		if srv != nil {
			srv.Shutdown()
		}
	})
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	bb := connectFailBackbone(t, srv.URL())
	rdb, redisURL := failRedis(t)
	d := newFailDeployment(t, bb, rdb, redisURL, nil)
	sim := eventsim.DefaultConfig(n)
	sim.Members, sim.Groups = 500, 8
	wl := eventsim.Generate(sim)

	b := d.inProcessBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	runCtx, stopRun := context.WithCancel(ctx)
	var runWG sync.WaitGroup
	var runErr error
	runWG.Go(func() { runErr = b.run(runCtx) })
	defer func() { stopRun(); runWG.Wait() }()

	start := time.Now()
	var published atomic.Int64
	var pubWG sync.WaitGroup
	var pubStats failPublishStats
	var pubErr error
	pubWG.Go(func() {
		pubStats, pubErr = failPublishOneByOne(ctx, d.pub, wl.Events, func(i int) { published.Store(int64(i)) })
	})

	// Restart when the publisher is a third and two thirds of the way.
	var downFor []time.Duration
	for r := 1; r <= restarts; r++ {
		for published.Load() < int64(n*r/(restarts+1)) {
			if ctx.Err() != nil {
				t.Fatalf("restart %d: only %d events published", r, published.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		down := time.Now()
		srvMu.Lock()
		srv.Shutdown()
		srv = nil
		srvMu.Unlock()
		time.Sleep(downtime)
		next, err := embedded.StartNATS(embedded.Options{Dir: storeDir, Listen: u.Host})
		if err != nil {
			t.Fatalf("restart %d: %v", r, err)
		}
		srvMu.Lock()
		srv = next
		srvMu.Unlock()
		downFor = append(downFor, time.Since(down).Round(time.Millisecond))
	}
	pubWG.Wait()
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	info := failWaitDrained(t, bb.js, d.names.EventsStream(), d.names.BridgeConsumer(), uint64(n), 3*time.Minute)
	took := time.Since(start)
	stopRun()
	runWG.Wait()
	if runErr != nil {
		t.Fatalf("bridge run: %v", runErr)
	}

	if msgs := failStreamMsgs(t, bb.js, d.names.EventsStream()); msgs != uint64(n) {
		t.Errorf("events stream holds %d messages, published %d", msgs, n)
	}
	b.settle(t)
	got := failTakeSnapshot(t, b.bridge.Query(), d.hasher, sim.Members)
	counted := failCheckCounts(t, "after NATS restarts", got, d.hasher, wl.Events)
	if dl := failStreamMsgs(t, bb.js, d.names.DLQStream()); dl != 0 {
		t.Errorf("%d dead letters, want 0", dl)
	}
	cc, seq := failContactStates(t, bb.js, d.names)
	t.Logf("%d events, %d NATS restarts (down %v each, same store and address)", n, restarts, downFor)
	t.Logf("publisher: %d events acked in %s, %d publish retries, %d duplicates dropped by the stream",
		pubStats.published, pubStats.took.Round(time.Millisecond), pubStats.retries, pubStats.duplicates)
	t.Logf("bridge: drained in %s (%.0f events/s overall); %d deliveries for %d messages (%d redeliveries)",
		took.Round(time.Millisecond), float64(n)/took.Seconds(), info.Delivered.Consumer, n, info.Delivered.Consumer-uint64(n))
	t.Logf("state: %d members, %d groups, %d messages counted of %d published; %d contacts desired (%d changes published)",
		len(got.Members), len(got.Groups), counted, n, len(cc), seq)
}
