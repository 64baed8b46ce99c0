package bridge

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/relais-bot/relais/bridge/bridgetest"
	"github.com/relais-bot/relais/events/eventsim"
	"github.com/relais-bot/relais/events/eventstest"
)

// BenchmarkBridgeThroughput measures the bridge end to end: events already in the stream,
// consumed, applied to Redis, acked, and the contact changes they cause published. Run it
// with REDIS_URL and NATS_URL for real servers, without for the embedded ones.
func BenchmarkBridgeThroughput(b *testing.B) {
	n := max(b.N, 1000)
	evs, _ := streamShape{events: n, members: max(150, n/50), seed: 11, gap: min(2000, n/5)}.generate(testNow)
	env := eventstest.New(b)
	rdb, prefix := bridgetest.Redis(b)
	ctx := context.Background()
	var acks []jetstream.PubAckFuture
	for _, ev := range evs {
		m, err := env.Pub.EventMsg(ev)
		if err != nil {
			b.Fatal(err)
		}
		f, err := env.JS.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	cfg := Config{KeyPrefix: prefix, Policy: PolicyNotice, Now: func() time.Time { return testNow }, SweepEvery: time.Hour,
		SingleWriter: os.Getenv("REDIS_URL") == ""} // as relais run does on the embedded Redis
	br, err := New(cfg, rdb, env.JS, env.Pub, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	crmBefore := env.StreamMsgs(b, env.Names.CRMStream())

	b.ResetTimer()
	start := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := br.Run(runCtx); err != nil {
			b.Error(err)
		}
	})
	for {
		cons, err := env.JS.Consumer(ctx, env.Names.EventsStream(), env.Names.BridgeConsumer())
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream >= uint64(len(evs)) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(len(evs))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(env.StreamMsgs(b, env.Names.CRMStream())-crmBefore), "contact_changes")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkReplay measures a rebuild: the events already in the stream, replayed into an
// empty state, as relais does at each start on the embedded Redis.
func BenchmarkReplay(b *testing.B) {
	n := max(b.N, 1000)
	evs, _ := streamShape{events: n, members: max(150, n/50), seed: 11, gap: min(2000, n/5)}.generate(testNow)
	env := eventstest.New(b)
	rdb, prefix := bridgetest.Redis(b)
	for _, ev := range evs {
		if _, err := env.Pub.Event(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
	cfg := Config{KeyPrefix: prefix, Policy: PolicyNotice, Now: func() time.Time { return testNow },
		SingleWriter: os.Getenv("REDIS_URL") == ""}
	br, err := New(cfg, rdb, env.JS, env.Pub, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	if err := br.Replay(context.Background(), time.Time{}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(evs))/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkApplyBatches measures the bridge core alone: relais bench's workload (20 groups,
// 2,000 members), decoded, applied in live-sized batches of 2,000 with the tags decided and
// stored, without NATS. relais bench's end-to-end figure is bounded by it: its batch loop
// applies nearly all the time. Each iteration starts from an empty state.
func BenchmarkApplyBatches(b *testing.B) {
	c := eventsim.DefaultConfig(20000)
	c.End = testNow
	evs := eventsim.Generate(c).Events
	rdb, prefix := bridgetest.Redis(b)
	ctx := context.Background()
	h := testHasher(b)
	const batch = 2000
	n := 0
	for i := 0; b.Loop(); i++ {
		cfg := Config{KeyPrefix: fmt.Sprintf("%s%d:", prefix, i), Policy: PolicyNotice, Now: func() time.Time { return testNow },
			SingleWriter: os.Getenv("REDIS_URL") == ""}
		br, err := newBridge(cfg, rdb, h)
		if err != nil {
			b.Fatal(err)
		}
		if err := br.scripts.load(ctx, rdb); err != nil {
			b.Fatal(err)
		}
		for lo := 0; lo < len(evs); lo += batch {
			hi := min(lo+batch, len(evs))
			// The live floor lags a batch behind: the ack floor is read after a batch is acked.
			pos := positions{floor: uint64(max(lo-batch, 0))}
			for j := lo; j < hi; j++ {
				pos.seqs = append(pos.seqs, uint64(j+1))
			}
			errs, err := br.applyEvents(ctx, evs[lo:hi], pos, false)
			if err != nil {
				b.Fatal(err)
			}
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
			n += hi - lo
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
