//go:build failure

package main

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relais-bot/relais/events"
	"github.com/relais-bot/relais/events/eventsim"
)

// A bridge process SIGKILLed ten times while events flow ends in exactly the state one clean
// run reaches: nothing lost, nothing counted twice, the same contacts desired in the CRM.
func TestFailureBridgeKilledTenTimes(t *testing.T) {
	n := 100_000
	if !failRealRedis() {
		n = 20_000
		t.Logf("REDIS_URL unset: %d events on miniredis (100k with a real Redis)", n)
	}
	const kills = 10
	bin := buildRelais(t)
	bb := newFailBackbone(t)
	rdb, redisURL := failRedis(t)
	sim := eventsim.DefaultConfig(n)
	wl := eventsim.Generate(sim)

	// The run under fire: a relais bridge process, killed hard whenever it has been delivered
	// another tenth of the stream, restarted at once.
	fired := newFailDeployment(t, bb, rdb, redisURL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var (
		pubWG    sync.WaitGroup
		pubStats failPublishStats
		pubErr   error
	)
	pubWG.Go(func() { pubStats, pubErr = failPublish(ctx, bb.js, fired.pub, wl.Events) })

	startChild := func() (*process, time.Duration) {
		addr := freeAddr(t)
		p := startRelais(t, bin, fired.environ("RELAIS_HTTP_ADDR="+addr), "run", "--roles=bridge")
		return p, waitReady(t, p, addr, 30*time.Second)
	}
	child, _ := startChild()
	var (
		readies      []time.Duration
		killedAt     []uint64
		deliveredNow uint64
	)
	for k := 1; k <= kills; k++ {
		threshold := uint64(n) * uint64(k) / (kills + 1)
		for deliveredNow < threshold {
			time.Sleep(20 * time.Millisecond)
			cons, err := bb.js.Consumer(ctx, fired.names.EventsStream(), fired.names.BridgeConsumer())
			if err != nil {
				continue // the first child has not created it yet
			}
			info, err := cons.Info(ctx)
			if err != nil {
				continue
			}
			deliveredNow = info.Delivered.Stream
			select {
			case err := <-child.done:
				t.Fatalf("bridge exited on its own: %v\n%s", err, child.Logs())
			default:
			}
			if ctx.Err() != nil {
				t.Fatalf("kill %d: stream delivered %d of %d before the deadline", k, deliveredNow, threshold)
			}
		}
		if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-child.done
		killedAt = append(killedAt, deliveredNow)
		var ready time.Duration
		child, ready = startChild()
		readies = append(readies, ready)
	}
	pubWG.Wait()
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	info := failWaitDrained(t, bb.js, fired.names.EventsStream(), fired.names.BridgeConsumer(), uint64(n), 5*time.Minute)
	took := time.Since(start)
	stopRelais(t, child)
	if msgs := failStreamMsgs(t, bb.js, fired.names.EventsStream()); msgs != uint64(n) {
		t.Fatalf("events stream holds %d messages, published %d", msgs, n)
	}
	redelivered := info.Delivered.Consumer - uint64(n)

	// The reference: the same events, processed once by one bridge that nobody disturbs.
	clean := newFailDeployment(t, bb, rdb, redisURL, nil)
	if _, err := failPublish(ctx, bb.js, clean.pub, wl.Events); err != nil {
		t.Fatal(err)
	}
	ref := clean.inProcessBridge(t)
	refInfo, refTook := ref.runUntilDrained(t, bb.js, clean.names, uint64(n), 5*time.Minute)

	// Both at the same clock, then read everything back.
	after := fired.inProcessBridge(t)
	after.settle(t)
	ref.settle(t)
	want := failTakeSnapshot(t, ref.bridge.Query(), clean.hasher, sim.Members)
	got := failTakeSnapshot(t, after.bridge.Query(), fired.hasher, sim.Members)
	failDiffSnapshots(t, "killed ten times vs clean run", want, got)
	counted := failCheckCounts(t, "killed ten times", got, fired.hasher, wl.Events)
	failCheckCounts(t, "clean run", want, clean.hasher, wl.Events)

	wantCC, wantSeq := failContactStates(t, bb.js, clean.names)
	gotCC, gotSeq := failContactStates(t, bb.js, fired.names)
	failDiffContacts(t, "contacts: killed vs clean", failDesiredContacts(wantCC), failDesiredContacts(gotCC))
	if len(wantCC) == 0 {
		t.Error("the clean run desired no contact: the workload proves nothing about contacts")
	}
	for name, names := range map[string]events.Names{"killed": fired.names, "clean": clean.names} {
		if dl := failStreamMsgs(t, bb.js, names.DLQStream()); dl != 0 {
			t.Errorf("%s run: %d dead letters, want 0", name, dl)
		}
	}
	leadersFound := 0
	for _, c := range want.Leaders {
		for id := range wl.Leaders {
			if c.Token == clean.hasher.Member(events.Telegram, id) {
				leadersFound++
			}
		}
	}
	tagged := 0
	for _, c := range got.Members {
		if len(c.Tags) > len(c.Groups) { // more than the per-group tags
			tagged++
		}
	}

	t.Logf("workload: %d events, %d members, %d groups, %d planted leaders (%d in the clean top %d)",
		n, sim.Members, sim.Groups, len(wl.Leaders), leadersFound, len(want.Leaders))
	t.Logf("killed run: %d SIGKILLs at delivered seq %v; restarts ready in %v", kills, killedAt, readies)
	t.Logf("killed run: %s for %d events = %.0f events/s (publish %s, %d publish retries); %d redeliveries (consumer deliveries %d for %d messages)",
		took.Round(time.Millisecond), n, float64(n)/took.Seconds(), pubStats.took.Round(time.Millisecond), pubStats.retries,
		redelivered, info.Delivered.Consumer, n)
	t.Logf("clean run: %s = %.0f events/s, %d deliveries",
		refTook.Round(time.Millisecond), float64(n)/refTook.Seconds(), refInfo.Delivered.Consumer)
	t.Logf("state: %d members (%d with activity tags), %d groups, %d messages counted (published %d); contacts desired %d (killed run published %d changes, clean %d)",
		len(got.Members), tagged, len(got.Groups), counted, n, len(gotCC), gotSeq, wantSeq)
}
